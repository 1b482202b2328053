import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery, useSubscription } from '@apollo/client';
import { graphql } from './gql';
import type { MeQuery } from './gql/graphql';
import { editList, setBudget } from './cacheLists';
import { ErrorText } from './errors';

const PAGE_SIZE = 5;

export const ItemFields = graphql(`
  fragment ItemFields on Item {
    id
    name
    price
    description
    onMarket
    owner {
      id
      username
    }
  }
`);

const MarketDocument = graphql(`
  query Market($first: Int!, $after: String) {
    marketItems(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          ...ItemFields
        }
      }
    }
  }
`);

const MyItemsDocument = graphql(`
  query MyItems {
    myItems(first: 100) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          ...ItemFields
        }
      }
    }
  }
`);

// The answer carries the item as it is now (owner, onMarket) and the new budget: the cache
// updates both without refetching the lists.
const PurchaseDocument = graphql(`
  mutation PurchaseItem($input: PurchaseItemInput!) {
    purchaseItem(input: $input) {
      budget
      item {
        ...ItemFields
      }
    }
  }
`);

const SellDocument = graphql(`
  mutation SellItem($input: SellItemInput!) {
    sellItem(input: $input) {
      budget
      item {
        ...ItemFields
      }
    }
  }
`);

const CreateItemDocument = graphql(`
  mutation CreateItem($input: CreateItemInput!) {
    createItem(input: $input) {
      item {
        ...ItemFields
      }
    }
  }
`);

const MarketEventsDocument = graphql(`
  subscription MarketEvents {
    marketEvents {
      kind
      item {
        ...ItemFields
      }
    }
  }
`);

type Me = MeQuery['me'];
type LiveEvent = { key: number; kind: string; name: string; who: string | null; price: number };

/** A fresh idempotency key, for one purchase (retries of it send the same key). */
export function newKey() {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export function Market({ me }: { me: Me }) {
  const market = useQuery(MarketDocument, { variables: { first: PAGE_SIZE } });
  const mine = useQuery(MyItemsDocument);
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [purchase, purchaseState] = useMutation(PurchaseDocument, {
    update(cache, { data }) {
      if (!data) return;
      setBudget(cache, me.id, data.purchaseItem.budget);
      editList(cache, 'marketItems', data.purchaseItem.item, 'remove');
      editList(cache, 'myItems', data.purchaseItem.item, 'add');
    },
  });
  const [sell, sellState] = useMutation(SellDocument, {
    update(cache, { data }) {
      if (!data) return;
      setBudget(cache, me.id, data.sellItem.budget);
      editList(cache, 'myItems', data.sellItem.item, 'remove');
      editList(cache, 'marketItems', data.sellItem.item, 'add');
    },
  });

  // Other people's trades, live: the event's item is normalised into the cache by itself
  // (owner, onMarket); the market list gains or loses it here.
  const live = useSubscription(MarketEventsDocument, {
    onData({ client, data }) {
      const event = data.data?.marketEvents;
      if (!event) return;
      const { item } = event;
      if (item.onMarket) editList(client.cache, 'marketItems', item, 'add');
      else editList(client.cache, 'marketItems', item, 'remove');
      if (item.owner?.id === me.id) editList(client.cache, 'myItems', item, 'add');
      else editList(client.cache, 'myItems', item, 'remove');
      setEvents((list) =>
        [{ key: Date.now() + Math.random(), kind: event.kind, name: item.name, who: item.owner?.username ?? null, price: item.price }, ...list].slice(0, 20),
      );
    },
  });

  const connection = market.data?.marketItems;
  const busy = purchaseState.loading || sellState.loading;
  return (
    <>
      <section>
        <h2>On the market</h2>
        <ErrorText error={market.error} testId="market-error" />
        <ErrorText error={purchaseState.error ?? sellState.error} testId="trade-error" />
        {connection && (
          <>
            <p className="muted" data-testid="market-count">
              {connection.totalCount} items for sale
            </p>
            <table>
              <tbody>
                {connection.edges.map(({ node }) => (
                  <tr key={node.id} data-testid="market-item" data-item-id={node.id}>
                    <td>{node.name}</td>
                    <td data-testid="item-price">{node.price}</td>
                    <td className="muted">{node.description}</td>
                    <td>
                      <button
                        type="button"
                        data-testid="buy"
                        disabled={busy}
                        onClick={() =>
                          purchase({ variables: { input: { itemId: node.id, idempotencyKey: newKey() } } }).catch(() => undefined)
                        }
                      >
                        Buy
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {connection.pageInfo.hasNextPage && (
              <button
                type="button"
                data-testid="market-more"
                disabled={market.loading}
                onClick={() => market.fetchMore({ variables: { after: connection.pageInfo.endCursor } })}
              >
                Show more
              </button>
            )}
          </>
        )}
      </section>

      <section>
        <h2>My items</h2>
        <ErrorText error={mine.error} testId="my-items-error" />
        {mine.data && mine.data.myItems.edges.length === 0 && <p className="muted">You hold nothing yet.</p>}
        <table>
          <tbody>
            {mine.data?.myItems.edges.map(({ node }) => (
              <tr key={node.id} data-testid="my-item" data-item-id={node.id}>
                <td>{node.name}</td>
                <td>{node.price}</td>
                <td>
                  <button type="button" data-testid="sell" disabled={busy} onClick={() => sell({ variables: { input: { itemId: node.id } } }).catch(() => undefined)}>
                    Sell
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      {me.permissions.includes('items:manage') && <NewItem />}

      <section>
        <h2>Live</h2>
        <ErrorText error={live.error} testId="live-error" />
        <ul data-testid="market-events">
          {events.map((event) => (
            <li key={event.key} data-testid="market-event">
              {event.kind} {event.name}
              {event.who ? ` by ${event.who}` : ''} ({event.price})
            </li>
          ))}
        </ul>
        {events.length === 0 && <p className="muted">Trades appear here as they happen.</p>}
      </section>
    </>
  );
}

function NewItem() {
  const [create, { loading, error }] = useMutation(CreateItemDocument, {
    update(cache, { data }) {
      if (data) editList(cache, 'marketItems', data.createItem.item, 'add');
    },
  });
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const input = {
      name: String(form.get('name')),
      price: Number(form.get('price')),
      barcode: String(form.get('barcode')),
      description: String(form.get('description') ?? ''),
    };
    const result = await create({ variables: { input } }).catch(() => null);
    if (result?.data) formElement.reset();
  }
  return (
    <section>
      <h2>List a new item</h2>
      <form onSubmit={submit} data-testid="new-item-form">
        <label>
          Name
          <input name="name" required maxLength={50} data-testid="new-item-name" />
        </label>
        <label>
          Price
          <input name="price" type="number" min={1} required data-testid="new-item-price" />
        </label>
        <label>
          Barcode (12 digits)
          <input name="barcode" required pattern="[0-9]{12}" data-testid="new-item-barcode" />
        </label>
        <label>
          Description
          <input name="description" data-testid="new-item-description" />
        </label>
        <button type="submit" disabled={loading} data-testid="new-item-submit">
          List it
        </button>
        <ErrorText error={error} testId="new-item-error" />
      </form>
    </section>
  );
}
