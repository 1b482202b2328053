// Small edits of cached connections (as relayStylePagination stores them), so a mutation's or
// an event's answer moves an object between lists without refetching them.
import type { ApolloCache, Reference, StoreObject } from '@apollo/client';
import type { Modifier } from '@apollo/client/cache';

type Edge = { __typename?: string; cursor: string; node: Reference };
type Stored = { edges?: Edge[]; totalCount?: number; pageInfo?: { hasNextPage?: boolean } };

/**
 * Lists must select `pageInfo { hasNextPage }`: without it relayStylePagination assumes more
 * pages follow.
 *
 * Applies `change` to every cached variant of `field` (each filter is its own list) whose store
 * key `accepts`. Lists keep id order, like Agora's: an id past the last loaded one while more
 * pages follow is left for the next page.
 */
export function editList(
  cache: ApolloCache<unknown>,
  field: string,
  object: StoreObject,
  change: 'add' | 'remove',
  { accepts = () => true, edgeType = 'ItemEdge' }: { accepts?: (storeFieldName: string) => boolean; edgeType?: string } = {},
) {
  const id = cache.identify(object);
  if (!id) return;
  const ref = { __ref: id } as Reference;
  const numericId = Number(object.id);
  const modifier: Modifier<Stored> = (existing, { readField, storeFieldName }) => {
    if (!existing?.edges || !accepts(storeFieldName)) return existing;
    const present = existing.edges.some((edge) => readField('id', edge.node) === object.id);
    if (change === 'remove') {
      if (!present) return existing;
      return {
        ...existing,
        edges: existing.edges.filter((edge) => readField('id', edge.node) !== object.id),
        totalCount: existing.totalCount === undefined ? undefined : existing.totalCount - 1,
      };
    }
    if (present) return existing;
    const edges = [...existing.edges];
    let at = edges.findIndex((edge) => Number(readField('id', edge.node)) > numericId);
    if (at === -1) {
      if (existing.pageInfo?.hasNextPage) {
        return { ...existing, totalCount: existing.totalCount === undefined ? undefined : existing.totalCount + 1 };
      }
      at = edges.length;
    }
    edges.splice(at, 0, { __typename: edgeType, cursor: '', node: ref });
    return { ...existing, edges, totalCount: existing.totalCount === undefined ? undefined : existing.totalCount + 1 };
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  cache.modify({ fields: { [field]: modifier as Modifier<any> } });
}

/** Sets the cached user's budget to what a trade answered. */
export function setBudget(cache: ApolloCache<unknown>, userId: string | undefined, budget: number) {
  if (!userId) return;
  cache.modify({ id: cache.identify({ __typename: 'User', id: userId }), fields: { budget: () => budget } });
}
