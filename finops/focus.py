"""FOCUS (FinOps Open Cost and Usage Specification) column names and value vocabularies.

Only the columns finops-bot reads or writes are named here; exports may carry more.
"""

from __future__ import annotations

BILLED_COST = "BilledCost"
EFFECTIVE_COST = "EffectiveCost"
LIST_COST = "ListCost"
CONTRACTED_COST = "ContractedCost"
BILLING_CURRENCY = "BillingCurrency"
BILLING_ACCOUNT_ID = "BillingAccountId"
BILLING_ACCOUNT_NAME = "BillingAccountName"
BILLING_PERIOD_START = "BillingPeriodStart"
BILLING_PERIOD_END = "BillingPeriodEnd"
CHARGE_PERIOD_START = "ChargePeriodStart"
CHARGE_PERIOD_END = "ChargePeriodEnd"
CHARGE_CATEGORY = "ChargeCategory"
CHARGE_FREQUENCY = "ChargeFrequency"
CHARGE_DESCRIPTION = "ChargeDescription"
PROVIDER_NAME = "ProviderName"
PUBLISHER_NAME = "PublisherName"
INVOICE_ISSUER_NAME = "InvoiceIssuerName"
SUB_ACCOUNT_ID = "SubAccountId"
SUB_ACCOUNT_NAME = "SubAccountName"
SERVICE_NAME = "ServiceName"
SERVICE_CATEGORY = "ServiceCategory"
REGION_ID = "RegionId"
REGION_NAME = "RegionName"
RESOURCE_ID = "ResourceId"
PRICING_QUANTITY = "PricingQuantity"
PRICING_UNIT = "PricingUnit"
TAGS = "Tags"

MONEY_COLUMNS = (BILLED_COST, EFFECTIVE_COST, LIST_COST, CONTRACTED_COST)

# The columns a FOCUS-shaped row carries in finops-bot, in export order.
COLUMNS = (
    BILLING_ACCOUNT_ID,
    BILLING_ACCOUNT_NAME,
    BILLING_CURRENCY,
    BILLING_PERIOD_START,
    BILLING_PERIOD_END,
    CHARGE_PERIOD_START,
    CHARGE_PERIOD_END,
    CHARGE_CATEGORY,
    CHARGE_FREQUENCY,
    CHARGE_DESCRIPTION,
    PROVIDER_NAME,
    PUBLISHER_NAME,
    INVOICE_ISSUER_NAME,
    SUB_ACCOUNT_ID,
    SUB_ACCOUNT_NAME,
    SERVICE_NAME,
    SERVICE_CATEGORY,
    REGION_ID,
    REGION_NAME,
    RESOURCE_ID,
    PRICING_QUANTITY,
    PRICING_UNIT,
    BILLED_COST,
    EFFECTIVE_COST,
    LIST_COST,
    CONTRACTED_COST,
    TAGS,
)

# FOCUS 1.x ChargeCategory values.
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

# FOCUS ServiceCategory values (1.0 - 1.2).
SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)

_PROVIDER_ALIASES = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "google": "gcp",
    "gcp": "gcp",
    "oracle": "oci",
    "oracle cloud infrastructure": "oci",
    "oci": "oci",
}


def normalise_provider(name: str) -> str:
    """The short provider key used in storage and reports: `aws`, `azure`, `gcp`, `oci`,
    or the export's own name lower-cased."""
    key = " ".join(name.split()).lower()
    return _PROVIDER_ALIASES.get(key, key)
