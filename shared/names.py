"""Every Service Bus entity, filter and app-setting name in one place.

The Bicep templates and the local host are cross-checked against this module by tests, so a name
changes here or nowhere.
"""

from __future__ import annotations

from typing import Final

# Service Bus entities
REQUESTS_QUEUE: Final = "referral-requests"
UPDATES_QUEUE: Final = "referral-updates"  # updates and closes from the CRM (update_referral)
EVENTS_TOPIC: Final = "referral-events"
CONNECT_SUBSCRIPTION: Final = "connect-referral"
OUTCOMES_SUBSCRIPTION: Final = "outcomes"
# Both the queue and the topic drop a second message with the same MessageId inside this window;
# the operator CLI holds back dead-letter replays younger than it (they would be dropped).
DUPLICATE_DETECTION_WINDOW_MINUTES: Final = 10

# Functions binding connection: identity-based in Azure (`<name>__fullyQualifiedNamespace`).
SERVICE_BUS_CONNECTION: Final = "ServiceBusConnection"

# Event types (CloudEvents `type`, Service Bus `Subject`).
REFERRAL_CREATED: Final = "referral-created"
REFERRAL_CONNECTED: Final = "referral-connected"
REFERRAL_REJECTED: Final = "referral-rejected"
REFERRAL_FAILED: Final = "referral-failed"
REFERRAL_UPDATED: Final = "referral-updated"
EVENT_TYPES: Final = (
    REFERRAL_CREATED,
    REFERRAL_CONNECTED,
    REFERRAL_REJECTED,
    REFERRAL_FAILED,
    REFERRAL_UPDATED,
)

# Application properties on published messages.
PROP_REFERRAL_TYPE: Final = "referralType"
PROP_EXTERNAL_REFERENCE_ID: Final = "externalReferenceId"
PROP_SOURCE: Final = "source"
PROP_ATTEMPT: Final = "relayAttempt"  # reschedule counter on copies of the inbound message
PROP_ORIGINAL_MESSAGE_ID: Final = "relayOriginalMessageId"
PROP_WAITS: Final = "relayWaits"  # reschedules spent waiting for another delivery's claim
PROP_DIAGNOSTIC_ID: Final = "Diagnostic-Id"
PROP_TRACEPARENT: Final = "traceparent"

# The connect-referral subscription's correlation filter: system property Subject plus one
# application property. Declared once; the Bicep and the local broker both follow it.
CONNECT_FILTER_SUBJECT: Final = REFERRAL_CREATED
CONNECT_FILTER_PROPERTIES: Final[dict[str, str]] = {PROP_REFERRAL_TYPE: "Shared"}
# The Bicep names the filter rule `$Default` so that it replaces the catch-all rule Service Bus
# gives every new subscription (two rules would OR together and let every event through).
CONNECT_FILTER_RULE: Final = "$Default"

# Storage and Key Vault names the deployment creates (and the settings default to).
LEDGER_TABLE: Final = "referralledger"
REFRESH_TOKEN_SECRET: Final = "partner-refresh-token"  # noqa: S105 - a secret's name, not a secret

# Telemetry the alerts query (infra/modules/alerts.bicep): a log record with the custom dimension
# TELEMETRY_OUTCOME = <event type> per published outcome, and one with TELEMETRY_EVENT =
# TOKEN_REFRESH_FAILED each time redeeming the refresh token fails.
TELEMETRY_OUTCOME: Final = "relay.outcome"
TELEMETRY_EVENT: Final = "relay.event"
TOKEN_REFRESH_FAILED: Final = "token-refresh-failed"  # noqa: S105 - an event name

# Host settings the Functions runtime reads (identity-based connections, telemetry, scale).
HOST_SETTINGS: Final = (
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace",
    f"{SERVICE_BUS_CONNECTION}__credential",
    f"{SERVICE_BUS_CONNECTION}__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls",
)
