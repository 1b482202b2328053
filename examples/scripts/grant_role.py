#!/usr/bin/env python3
"""Make sure a role exists with the given permissions and is held by every user in a CSV.

    AGORA_TOKEN=agora_pat_... python3 grant_role.py --role support \
        --permission users:read --permission audit:read users.csv

The CSV has a `username` column (others are ignored). Safe to run again: each step says whether
it changed anything, and a second run changes nothing. Errors are printed with their
`extensions.code`; the exit status is 1 if any step failed. Standard library only.
"""

import argparse
import csv
import json
import os
import pathlib
import sys
import urllib.error
import urllib.request


# Sent whole, naming the operation: its exact text is what a trusted-documents server lists.
OPERATIONS = (pathlib.Path(__file__).parent / "operations.graphql").read_text().rstrip("\n")


class GraphQLError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def client(url, token):
    def graphql(operation, variables=None):
        body = {"query": OPERATIONS, "operationName": operation, "variables": variables or {}}
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as refusal:  # 4xx/5xx still carry a GraphQL body
            body = json.load(refusal)
        for error in body.get("errors", []):
            raise GraphQLError(error.get("extensions", {}).get("code", "UNKNOWN"), error["message"])
        return body["data"]

    return graphql


def usernames(path):
    with open(path, newline="") as file:
        rows = csv.DictReader(file)
        if "username" not in (rows.fieldnames or []):
            raise SystemExit(f"{path}: needs a 'username' column")
        return [row["username"].strip() for row in rows if row["username"].strip()]


def find_user(graphql, username):
    found = graphql(
        "FindUsers",
        {"search": username},
    )["users"]["nodes"]
    return next((user["id"] for user in found if user["username"].lower() == username.lower()), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--permission", action="append", default=[], help="repeatable")
    parser.add_argument("csv", help="file with a 'username' column")
    args = parser.parse_args()
    graphql = client(
        os.environ.get("AGORA_URL", "http://127.0.0.1:8080/graphql"), os.environ["AGORA_TOKEN"]
    )
    changes = failures = 0

    def report(step, outcome, changed=False):
        nonlocal changes
        changes += changed
        print(f"{step}: {outcome}")

    def failed(step, error):
        nonlocal failures
        failures += 1
        print(f"{step}: {error}", file=sys.stderr)

    try:
        roles = {role["name"].lower(): role["id"] for role in graphql("Roles")["roles"]}
        role_id = roles.get(args.role.lower())
        if role_id is None:
            role_id = graphql(
                "CreateRole",
                {"v": {"name": args.role, "description": args.description}},
            )["createRole"]["role"]["id"]
            report(f"role {args.role}", "created", True)
        else:
            report(f"role {args.role}", "exists")
        permissions = {p["name"]: p["id"] for p in graphql("Permissions")["permissions"]}
    except GraphQLError as error:
        failed(f"role {args.role}", error)
        return 1

    for name in args.permission:
        step = f"grant {name} to {args.role}"
        if name not in permissions:
            failed(step, "NOT_FOUND: no such permission")
            continue
        try:
            changed = graphql(
                "GrantPermission",
                {"v": {"roleId": role_id, "permissionId": permissions[name]}},
            )["grantPermission"]["changed"]
            report(step, "granted" if changed else "already granted", changed)
        except GraphQLError as error:
            failed(step, error)

    for username in usernames(args.csv):
        step = f"assign {args.role} to {username}"
        try:
            user_id = find_user(graphql, username)
            if user_id is None:
                failed(step, "NOT_FOUND: no account with that username")
                continue
            changed = graphql(
                "AssignRole",
                {"v": {"userId": user_id, "roleId": role_id}},
            )["assignRole"]["changed"]
            report(step, "assigned" if changed else "already held", changed)
        except GraphQLError as error:
            failed(step, error)

    print(f"{changes} changed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
