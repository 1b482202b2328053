// Reports how schema.graphql changed against a base commit (main, or the previous commit when
// the change is main itself), and fails on breaking changes, which existing clients would feel,
// unless a commit in the range says why with a `Schema-Break: <reason>` line.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema } from 'graphql';
import { diff, CriticalityLevel } from '@graphql-inspector/core';

export async function schemaChanges(oldSdl, newSdl) {
  const changes = await diff(buildSchema(oldSdl), buildSchema(newSdl));
  return {
    breaking: changes.filter((change) => change.criticality.level === CriticalityLevel.Breaking),
    other: changes.filter((change) => change.criticality.level !== CriticalityLevel.Breaking),
  };
}

const git = (...args) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

function baseCommit() {
  if (process.env.SCHEMA_BASE) return git('rev-parse', process.env.SCHEMA_BASE);
  const head = git('rev-parse', 'HEAD');
  for (const ref of ['origin/main', 'main']) {
    let base;
    try {
      base = git('merge-base', head, ref);
    } catch {
      continue;
    }
    if (base !== head) return base;
  }
  return git('rev-parse', 'HEAD~1');
}

async function main() {
  const root = git('rev-parse', '--show-toplevel');
  const base = baseCommit();
  const oldSdl = git('show', `${base}:schema.graphql`);
  const newSdl = readFileSync(`${root}/schema.graphql`, 'utf8');
  const { breaking, other } = await schemaChanges(oldSdl, newSdl);
  console.log(`schema.graphql against ${base.slice(0, 10)}: ${breaking.length} breaking, ${other.length} other changes (descriptions, additions)`);
  const dangerous = other.filter((change) => change.criticality.level === CriticalityLevel.Dangerous);
  for (const change of dangerous) console.log(`  dangerous: ${change.message}`);
  for (const change of breaking) console.log(`  BREAKING: ${change.message}`);
  if (breaking.length === 0) return;
  const reasons = git('log', '--format=%B', `${base}..HEAD`).match(/^Schema-Break: .+$/gm);
  if (reasons) {
    console.log(`accepted by the change's commit messages:\n  ${reasons.join('\n  ')}`);
    return;
  }
  console.error('breaking schema changes: keep the old fields (deprecate them with a reason), or say why in a "Schema-Break: ..." commit message line');
  process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
