"""The CRM names cosell uses besides mapped fields: in the org, and as the engine writes them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from cosell.sync.core.mapping import SyncMapping


@dataclass(frozen=True)
class CrmNames:
    """The CRM field names the engine writes besides mapped fields."""

    sync_flag_field: str
    referral_id_field: str
    status_field: str | None
    error_field: str | None
    audit_field: str | None
    products_field: str | None
    solution_object: str
    solution_opportunity_field: str
    solution_id_field: str
    solution_name_field: str | None = None
    """The solution rows' name column, when the org has it (filled from the referral)."""
    contact_role: str | None = None
    """The ``Role`` a contact role cosell adds gets (``crm.contact_role``)."""


class OrgNames(BaseModel):
    """API names cosell uses in the org (configurable; defaults equal the mapping's defaults)."""

    model_config = ConfigDict(frozen=True)

    opportunity: str = "Opportunity"
    sync_flag: str = "Sync_with_Partner_Center__c"
    referral_id: str = "Referral_Identifier__c"
    referral_link: str = "Referral_Link__c"
    help_code: str = "How_can_Microsoft_help__c"
    products: str = "Products__c"
    audit: str = "Audit__c"
    sync_status: str = "Co_sell_Sync_Status__c"
    sync_error: str = "Co_sell_Sync_Error__c"
    solution_object: str = "Microsoft_Solution__c"
    solution_opportunity: str = "Opportunity__c"
    solution_id: str = "Solution_Id__c"
    solution_name: str = "Solution_Name__c"
    permission_set: str = "cosell_Integration"
    permission_set_label: str = "cosell Integration"

    @classmethod
    def from_mapping(cls, mapping: SyncMapping) -> OrgNames:
        """The names a mapping uses (its ``crm`` section and its referral id and link fields)."""
        crm = mapping.crm
        return cls(
            opportunity=crm.object,
            sync_flag=crm.sync_flag_field,
            referral_id=mapping.referral_id_field,
            referral_link=mapping.referral_link_field or cls().referral_link,
            audit=crm.audit_field,
            sync_status=crm.status_field,
            sync_error=crm.error_field,
            solution_object=crm.solution_object,
            solution_opportunity=crm.solution_opportunity_field,
            solution_id=crm.solution_id_field,
            solution_name=crm.solution_name_field,
        )
