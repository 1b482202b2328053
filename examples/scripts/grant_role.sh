#!/usr/bin/env bash
# Make sure a role exists with the given permissions and is held by every user in a CSV:
#
#   AGORA_TOKEN=agora_pat_... examples/scripts/grant_role.sh support "users:read audit:read" users.csv
#
# The CSV has a `username` column (others are ignored; no quoted commas). Safe to run again: each
# step says whether it changed anything. Errors are printed with their `extensions.code`; the
# exit status is 1 if any step failed. Needs curl and jq.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 ROLE \"PERMISSION ...\" FILE.csv" >&2; exit 2; }
role=$1 wanted=$2 file=$3
url=${AGORA_URL:-http://127.0.0.1:8080/graphql}
: "${AGORA_TOKEN:?set AGORA_TOKEN to an API token}"
changes=0 failures=0
# Sent whole, naming the operation: its exact text is what a trusted-documents server lists.
operations=$(cat "$(dirname "$0")/operations.graphql")

# gql OPERATION VARIABLES_JSON -> the answer's data; on errors prints CODE: message and returns 1
gql() {
  local answer
  answer=$(jq -nc --arg query "$operations" --arg operation "$1" --argjson variables "${2:-{\}}" \
      '{query: $query, operationName: $operation, variables: $variables}' |
    curl -sS "$url" -H 'Content-Type: application/json' -H "Authorization: Bearer $AGORA_TOKEN" --data-binary @-)
  if jq -e '.errors' >/dev/null <<<"$answer"; then
    jq -r '.errors[] | "\(.extensions.code // "UNKNOWN"): \(.message)"' <<<"$answer"
    return 1
  fi
  jq -c .data <<<"$answer"
}
report() { echo "$1: $2"; [ "${3:-}" = changed ] && changes=$((changes + 1)); return 0; }
failed() { echo "$1: $2" >&2; failures=$((failures + 1)); }
# changed STEP DONE_WORD UNCHANGED_WORD FIELD OPERATION VARIABLES: runs a mutation answering `changed`
changed() {
  local data
  if ! data=$(gql "$5" "$6"); then failed "$1" "$data"; return; fi
  if [ "$(jq -r ".$4.changed" <<<"$data")" = true ]; then report "$1" "$2" changed; else report "$1" "$3"; fi
}

if ! roles=$(gql Roles); then failed "role $role" "$roles"; exit 1; fi
role_id=$(jq -r --arg name "$role" '.roles[] | select((.name | ascii_downcase) == ($name | ascii_downcase)) | .id' <<<"$roles")
if [ -z "$role_id" ]; then
  if ! created=$(gql CreateRole \
      "$(jq -nc --arg name "$role" '{v: {name: $name}}')"); then
    failed "role $role" "$created"; exit 1
  fi
  role_id=$(jq -r .createRole.role.id <<<"$created")
  report "role $role" created changed
else
  report "role $role" exists
fi

if ! permissions=$(gql Permissions); then failed "role $role" "$permissions"; exit 1; fi
for name in $wanted; do
  step="grant $name to $role"
  permission_id=$(jq -r --arg name "$name" '.permissions[] | select(.name == $name) | .id' <<<"$permissions")
  if [ -z "$permission_id" ]; then failed "$step" "NOT_FOUND: no such permission"; continue; fi
  changed "$step" granted "already granted" grantPermission \
    GrantPermission \
    "$(jq -nc --arg role "$role_id" --arg permission "$permission_id" '{v: {roleId: $role, permissionId: $permission}}')"
done

column=$(head -n 1 "$file" | tr -d '\r' | tr ',' '\n' | grep -nx username | cut -d: -f1 || true)
[ -n "$column" ] || { echo "$file: needs a 'username' column" >&2; exit 2; }
while IFS= read -r username; do
  [ -n "$username" ] || continue
  step="assign $role to $username"
  if ! found=$(gql FindUsers \
      "$(jq -nc --arg search "$username" '{search: $search}')"); then
    failed "$step" "$found"; continue
  fi
  user_id=$(jq -r --arg name "$username" '.users.nodes[] | select((.username | ascii_downcase) == ($name | ascii_downcase)) | .id' <<<"$found")
  if [ -z "$user_id" ]; then failed "$step" "NOT_FOUND: no account with that username"; continue; fi
  changed "$step" assigned "already held" assignRole \
    AssignRole \
    "$(jq -nc --arg user "$user_id" --arg role "$role_id" '{v: {userId: $user, roleId: $role}}')"
done < <(tail -n +2 "$file" | tr -d '\r' | cut -d, -f"$column" | sed 's/^ *//; s/ *$//')

echo "$changes changed, $failures failed"
[ "$failures" -eq 0 ]
