"""Preparing a CRM org for cosell: the schema it needs (``spec``) and the code that creates it."""

from cosell.orgsetup.salesforce import Finding, OrgSetup, Report
from cosell.orgsetup.spec import (
    FieldSpec,
    ObjectSpec,
    OrgNames,
    OrgSpec,
    StageSpec,
    StandardFieldSpec,
    connector_spec,
    connector_spec_for,
)

__all__ = [
    "FieldSpec",
    "Finding",
    "ObjectSpec",
    "OrgNames",
    "OrgSetup",
    "OrgSpec",
    "Report",
    "StageSpec",
    "StandardFieldSpec",
    "connector_spec",
    "connector_spec_for",
]
