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
STOCK_STAGES = ("Prospecting", "Qualification", "Closed Won", "Closed Lost")
VALUE_SET_ID = "0Ch000000000001AAA"


def standard(*names: str, **typed: str) -> dict[str, dict[str, Any]]:
    fields = {n: {"name": n, "type": "string"} for n in names}
    return fields | {n: {"name": n, "type": t} for n, t in typed.items()}


def stock_objects() -> dict[str, dict[str, dict[str, Any]]]:
    """Opportunity and Account with the standard fields the shipped mapping syncs."""
    opportunity = standard(
        "Name", "CurrencyIsoCode", Id="id", Amount="currency", CloseDate="date"
    ) | standard(Description="textarea", StageName="picklist")
    opportunity["StageName"]["picklistValues"] = [{"value": v} for v in STOCK_STAGES]
    address = ("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode")
    account = standard("Name", *address, "BillingCountry", Id="id")
    return {"Opportunity": opportunity, "Account": account}


class TinyOrg:
    """Describe, Tooling creates, SOQL equality filters and record creates: just what setup uses."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = stock_objects()
        self.stage_values = [
            {"fullName": v, "closed": v.startswith("Closed"), "won": v == "Closed Won"}
            for v in STOCK_STAGES
        ]
        self.records: dict[str, list[dict[str, Any]]] = {
            "PermissionSet": [],
            "ObjectPermissions": [],
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
        if path == "tooling/query":
            return self.value_set_query(request.url.params["q"])
        if path == f"tooling/sobjects/StandardValueSet/{VALUE_SET_ID}":
            return self.patch_value_set(body)
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

    def value_set_query(self, soql: str) -> httpx.Response:
        assert "FROM StandardValueSet" in soql, soql
        assert "MasterLabel = 'OpportunityStage'" in soql, soql
        row = {"Id": VALUE_SET_ID, "Metadata": {"standardValue": self.stage_values}}
        return httpx.Response(200, json={"totalSize": 1, "done": True, "records": [row]})

    def patch_value_set(self, body: dict[str, Any]) -> httpx.Response:
        self.stage_values = body["Metadata"]["standardValue"]
        picklist = [{"value": v["fullName"]} for v in self.stage_values]
        self.objects["Opportunity"]["StageName"]["picklistValues"] = picklist
        return httpx.Response(204)

    @property
    def stage_names(self) -> list[str]:
        return [p["value"] for p in self.objects["Opportunity"]["StageName"]["picklistValues"]]

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
