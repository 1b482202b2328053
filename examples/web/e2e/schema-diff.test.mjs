import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schemaChanges } from '../scripts/schema-diff.mjs';

const before = `type Query {
  "A user."
  user(id: ID!): User
}
type User { id: ID! name: String! }`;

test('a removed field or a new required argument is breaking; a new field is not', async () => {
  const removed = await schemaChanges(before, 'type Query { user(id: ID!): User } type User { id: ID! }');
  assert.deepEqual(removed.breaking.map((change) => change.path), ['User.name']);

  const required = await schemaChanges(before, before.replace('(id: ID!)', '(id: ID!, org: ID!)'));
  assert.equal(required.breaking.length, 1);

  const added = await schemaChanges(before, before.replace('name: String!', 'name: String! email: String'));
  assert.deepEqual(added.breaking, []);
  assert.equal(added.other.length, 1);
});
