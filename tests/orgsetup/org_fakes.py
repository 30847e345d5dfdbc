"""A small in-test Salesforce org for setup tests: just what ``cosell setup salesforce`` uses."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import httpx

from cosell.orgsetup.spec import DESCRIBE_TYPES

USER_ID = "005000000000001AAA"
INSTANCE = "https://org.example.my.salesforce.com"
_CONDITION = re.compile(r"(\w+) = '((?:[^'\\]|\\.)*)'")


class TinyOrg:
    """Describe, Tooling creates, SOQL equality filters and record creates: just what setup uses."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"Opportunity": {}}
        self.records: dict[str, list[dict[str, Any]]] = {
            "PermissionSet": [],
            "FieldPermissions": [],
            "PermissionSetAssignment": [],
        }
        self.writes: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return self.token(request)
        path = request.url.path.removeprefix("/services/data/v62.0/")
        body = json.loads(request.content) if request.content else None
        if request.method != "GET":
            self.writes.append((request.method, path))
        if path.endswith("/describe"):
            return self.describe(path.split("/")[1])
        if path == "query":
            return self.query(request.url.params["q"])
        if path.startswith("tooling/sobjects/"):
            return self.tooling(path.rsplit("/", 1)[-1], body)
        sobject = path.split("/")[1]
        if request.method == "POST":
            return self.create(sobject, body)
        record = next(r for r in self.records[sobject] if r["Id"] == path.split("/")[2])
        record.update(body)
        return httpx.Response(204)

    def describe(self, sobject: str) -> httpx.Response:
        if sobject not in self.objects:
            return httpx.Response(404, json=[{"errorCode": "NOT_FOUND", "message": "nope"}])
        return httpx.Response(
            200, json={"name": sobject, "fields": list(self.objects[sobject].values())}
        )

    def add_field(self, sobject: str, name: str, type_: str, **extra: Any) -> None:
        self.objects[sobject][name] = {"name": name, "type": type_, **extra}

    def tooling(self, kind: str, body: dict[str, Any]) -> httpx.Response:
        meta = body["Metadata"]
        if kind == "CustomObject":
            self.objects[body["FullName"]] = {"Name": {"name": "Name", "type": "string"}}
        else:
            sobject, name = body["FullName"].split(".")
            values = [
                {"value": v["fullName"]}
                for v in meta.get("valueSet", {}).get("valueSetDefinition", {}).get("value", [])
            ]
            self.add_field(
                sobject,
                name,
                DESCRIBE_TYPES[meta["type"]],
                length=meta.get("length", 0),
                externalId=meta.get("externalId", False),
                unique=meta.get("unique", False),
                picklistValues=values,
                referenceTo=[meta["referenceTo"]] if "referenceTo" in meta else [],
            )
        return httpx.Response(
            201, json={"id": f"00N{next(self._ids):015d}", "success": True, "errors": []}
        )

    def create(self, sobject: str, body: dict[str, Any]) -> httpx.Response:
        record = {"Id": f"0X{next(self._ids):016d}", **body}
        self.records[sobject].append(record)
        return httpx.Response(201, json={"id": record["Id"], "success": True, "errors": []})

    def query(self, soql: str) -> httpx.Response:
        sobject = re.search(r"FROM (\w+)", soql).group(1)  # type: ignore[union-attr]
        wanted = {k: v.replace("\\'", "'") for k, v in _CONDITION.findall(soql)}
        rows = [r for r in self.records[sobject] if all(r.get(k) == v for k, v in wanted.items())]
        return httpx.Response(200, json={"totalSize": len(rows), "done": True, "records": rows})

    def token(self, request: httpx.Request) -> httpx.Response:
        self.logins += 1
        identity = f"https://login.example/id/00D000000000001AAA/{USER_ID}"
        body = {"access_token": f"tok{self.logins}", "instance_url": INSTANCE, "id": identity}
        return httpx.Response(200, json=body)
