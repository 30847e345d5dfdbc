"""Preparing a CRM org for cosell: the schema it needs (``spec``) and the code that creates it."""

from cosell.orgsetup.salesforce import Finding, OrgSetup, Report
from cosell.orgsetup.spec import FieldSpec, ObjectSpec, OrgNames, OrgSpec, connector_spec

__all__ = [
    "FieldSpec",
    "Finding",
    "ObjectSpec",
    "OrgNames",
    "OrgSetup",
    "OrgSpec",
    "Report",
    "connector_spec",
]
