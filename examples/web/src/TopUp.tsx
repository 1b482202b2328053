// Buying market budget with money: `topUpOffer` gives the price and what is left to buy today,
// `createTopUp` makes a pending top-up and its Stripe PaymentIntent, and the browser pays that
// with Stripe.js (src/stripe.ts) when the server names a publishable key. Agora credits the
// budget only when Stripe's webhook says the payment succeeded, so the screen polls `myTopUps`
// (and the budget) while a top-up is pending.
import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import type { ApolloError } from '@apollo/client';
import { graphql } from './gql';
import type { TopUpFieldsFragment } from './gql/graphql';
import { ErrorText, FieldError, fieldMessage, hasCode, hasReason } from './errors';
import { useCeremony } from './ceremony';
import { newKey } from './Market';
import { loadStripe } from './stripe';
import type { CardElement, StripeJs } from './stripe';

export const TopUpFields = graphql(`
  fragment TopUpFields on TopUp {
    id
    units
    amount
    currency
    state
    paymentIntentId
    createdAt
    creditedAt
    refundedAmount
    refundedUnits
  }
`);

const TopUpOfferDocument = graphql(`
  query TopUpOffer {
    topUpOffer {
      currency
      unitPrice
      maxUnits
      dailyUnits
      remainingToday
      publishableKey
    }
  }
`);

// The budget rides along: polled with the list, it changes in the header when a top-up is
// credited.
const MyTopUpsDocument = graphql(`
  query MyTopUps {
    me {
      id
      budget
    }
    myTopUps {
      ...TopUpFields
    }
  }
`);

const CreateTopUpDocument = graphql(`
  mutation CreateTopUp($input: CreateTopUpInput!) {
    createTopUp(input: $input) {
      topUp {
        ...TopUpFields
        clientSecret
      }
    }
  }
`);

/** Stripe's webhook reaches Agora within seconds of a payment. */
const POLL_MS = 1000;
/**
 * A top-up nobody pays stays pending; past this the page stops asking (a visit asks again).
 * Agora itself asks Stripe about top-ups pending over five minutes.
 */
const POLL_FOR_MS = 10 * 60_000;

/** An amount in the currency's minor units, as the reader's locale writes it. */
function money(minor: number, currency: string): string {
  const format = new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() });
  return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

/** Worth sending again with the same key: the answer was lost, or Stripe did not answer. */
function retryable(error: unknown): boolean {
  return Boolean((error as ApolloError | null)?.networkError) || hasCode(error, 'SERVICE_UNAVAILABLE');
}

export function TopUp() {
  const offer = useQuery(TopUpOfferDocument, { fetchPolicy: 'cache-and-network' });
  const list = useQuery(MyTopUpsDocument, {
    fetchPolicy: 'cache-and-network',
    skipPollAttempt: () => document.hidden,
  });
  const topUps = list.data?.myTopUps ?? [];
  const pending = topUps
    .filter((topUp) => topUp.state === 'PENDING')
    .map((topUp) => topUp.id)
    .join();

  // Polls while something is pending. Each change in what is pending (a new top-up, one
  // settled) also changes what may still be bought today.
  const { startPolling, stopPolling } = list;
  const seenPending = useRef<string | null>(null);
  const loaded = Boolean(list.data);
  useEffect(() => {
    if (!loaded) return;
    if (seenPending.current !== null && seenPending.current !== pending) offer.refetch().catch(() => undefined);
    seenPending.current = pending;
    if (!pending) return;
    startPolling(POLL_MS);
    const giveUp = setTimeout(stopPolling, POLL_FOR_MS);
    return () => {
      clearTimeout(giveUp);
      stopPolling();
    };
    // `offer.refetch`, `startPolling` and `stopPolling` only act: what matters is `pending`.
  }, [loaded, pending]);

  const off = hasReason(offer.error, 'PAYMENTS_NOT_CONFIGURED');
  const terms = offer.data?.topUpOffer;
  return (
    <>
      <section>
        <h2>Top up your budget</h2>
        {off ? (
          <p data-testid="payments-off">Payments are not configured on this server.</p>
        ) : (
          <ErrorText error={offer.error} testId="topup-offer-error" />
        )}
        {terms && !off && (
          <>
            <p>
              One unit costs <strong data-testid="topup-unit-price">{money(terms.unitPrice, terms.currency)}</strong>. You
              can buy <strong data-testid="topup-remaining">{terms.remainingToday}</strong> more units today (at most{' '}
              {terms.maxUnits} at a time, {terms.dailyUnits} in any 24 hours).
            </p>
            <BuyForm unitPrice={terms.unitPrice} currency={terms.currency} publishableKey={terms.publishableKey ?? null} />
          </>
        )}
      </section>

      <section>
        <h2>Your top-ups</h2>
        <ErrorText error={list.error} testId="topups-error" />
        {list.data && topUps.length === 0 && <p className="muted">None yet.</p>}
        {topUps.length > 0 && (
          <table>
            <tbody>
              {topUps.map((topUp) => (
                <TopUpRow key={topUp.id} topUp={topUp} />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function TopUpRow({ topUp }: { topUp: TopUpFieldsFragment }) {
  return (
    <tr data-testid="topup" data-topup-id={topUp.id} data-state={topUp.state}>
      <td>{new Date(topUp.createdAt).toLocaleString()}</td>
      <td>{topUp.units} units</td>
      <td>{money(topUp.amount, topUp.currency)}</td>
      <td data-testid="topup-state">
        {topUp.state === 'PENDING' && (
          <>
            Waiting for payment
            {topUp.paymentIntentId && (
              <>
                {' '}
                (PaymentIntent <code data-testid="topup-payment-intent">{topUp.paymentIntentId}</code>)
              </>
            )}
          </>
        )}
        {topUp.state === 'SUCCEEDED' && <>Paid; added to your budget {topUp.creditedAt && new Date(topUp.creditedAt).toLocaleString()}</>}
        {topUp.state === 'FAILED' && <span className="error">Payment failed; nothing was charged</span>}
        {topUp.refundedAmount > 0 && (
          <>
            {' '}
            · {money(topUp.refundedAmount, topUp.currency)} given back ({topUp.refundedUnits} units)
          </>
        )}
      </td>
    </tr>
  );
}

/** One purchase: its key stays the same while it is retried, so it is never made twice. */
type Attempt = { units: number; idempotencyKey: string };

function BuyForm({ unitPrice, currency, publishableKey }: { unitPrice: number; currency: string; publishableKey: string | null }) {
  const [create] = useMutation(CreateTopUpDocument, {
    update(cache, { data }) {
      const topUp = data?.createTopUp.topUp;
      if (!topUp) return;
      cache.updateQuery({ query: MyTopUpsDocument }, (current) =>
        current && !current.myTopUps.some((known) => known.id === topUp.id)
          ? { ...current, myTopUps: [topUp, ...current.myTopUps] }
          : current,
      );
    },
  });
  const [units, setUnits] = useState('10');
  const [attempt, setAttempt] = useState<Attempt | null>(null);
  const card = useCardElement(publishableKey);
  const buying = useCeremony();

  function buy(count: number) {
    // The same units after a failure that may not have reached Agora: the same purchase.
    const current = attempt?.units === count ? attempt : { units: count, idempotencyKey: newKey() };
    setAttempt(current);
    return buying.run(async () => {
      let topUp;
      try {
        topUp = (await create({ variables: { input: current } })).data?.createTopUp.topUp;
      } catch (caught) {
        if (!retryable(caught)) setAttempt(null);
        throw caught;
      }
      setAttempt(null);
      if (!card.ready || !topUp?.clientSecret || topUp.state !== 'PENDING') return;
      const paid = await card.ready.stripe.confirmCardPayment(topUp.clientSecret, { payment_method: { card: card.ready.element } });
      if (paid.error) throw new Error(paid.error.message ?? 'The payment did not go through');
    });
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    return buy(Number(units));
  }

  const count = Number(units);
  const unitsMessage = fieldMessage(buying.error, 'units');
  const canPay = !publishableKey || card.ready;
  return (
    <form onSubmit={submit} data-testid="topup-form">
      {/* No min or max: Agora's limits (and what is left today) decide, and its message shows here. */}
      <label>
        Units
        <input
          name="units"
          type="number"
          step={1}
          required
          value={units}
          onChange={(event) => setUnits(event.target.value)}
          aria-invalid={unitsMessage ? true : undefined}
          data-testid="topup-units"
        />
        <FieldError message={unitsMessage} testId="topup-units-error" />
      </label>
      {publishableKey && (
        <label>
          Card
          <div ref={card.container} className="card-field" data-testid="card-element" />
          <ErrorText error={card.error} testId="card-error" />
        </label>
      )}
      <button type="submit" disabled={buying.busy || !canPay} data-testid="topup-buy">
        Buy{Number.isInteger(count) && count > 0 ? ` for ${money(count * unitPrice, currency)}` : ''}
      </button>
      {attempt && retryable(buying.error) && (
        <button type="button" disabled={buying.busy} onClick={() => buy(attempt.units)} data-testid="topup-retry">
          Try again
        </button>
      )}
      {!unitsMessage && <ErrorText error={buying.error} testId="topup-error" />}
      {!publishableKey && (
        <p className="muted" data-testid="topup-no-card">
          This server has no Stripe publishable key, so there is no card form here: a top-up waits until its PaymentIntent
          is paid through Stripe.
        </p>
      )}
    </form>
  );
}

/** Stripe's Card Element in `container`, once Stripe.js has loaded; nothing without a key. */
function useCardElement(publishableKey: string | null) {
  const container = useRef<HTMLDivElement>(null);
  const [ready, setReady] = useState<{ stripe: StripeJs; element: CardElement } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    if (!publishableKey) return;
    let element: CardElement | undefined;
    let gone = false;
    loadStripe(publishableKey).then(
      (stripe) => {
        if (gone || !container.current) return;
        element = stripe.elements().create('card');
        element.mount(container.current);
        setReady({ stripe, element });
      },
      (caught: Error) => !gone && setError(caught),
    );
    return () => {
      gone = true;
      element?.destroy();
      setReady(null);
    };
  }, [publishableKey]);
  return { container, ready, error };
}
