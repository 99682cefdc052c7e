// Service Bus Standard (Premium when public network access is disabled): the inbound queues (requests, updates), the outcome-events topic and its two subscriptions.
// Entity and filter names are shared.names' (tests/infra cross-checks them). Local (SAS) auth is
// off: every client, the function app and the operator alike, signs in with Entra ID.

@description('Service Bus namespace name.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('Deliveries of one message before Service Bus dead-letters it (queue and connect-referral).')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int

@description('Enabled: Standard tier, reachable over the internet (Entra ID only). Disabled: Premium tier (private endpoints exist only there), private endpoint only (network.bicep).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Log Analytics workspace the namespace logs go to.')
param workspaceId string

// Private endpoints are a Premium-only feature of Service Bus (Standard never gets them:
// Azure/azure-service-bus#474); Premium is billed per messaging unit, one is plenty here.
var isPrivate = publicNetworkAccess == 'Disabled'
var sku = isPrivate ? {
  name: 'Premium'
  tier: 'Premium'
  capacity: 1
} : {
  name: 'Standard'
  tier: 'Standard'
}
// OperationalLogs (management operations) exist on every tier; the runtime audit of data-plane
// access (who sent, received, settled) and the network-filter logs only on Premium.
var standardLogs = [
  {
    category: 'OperationalLogs'
    enabled: true
  }
]
var premiumLogs = [
  {
    category: 'OperationalLogs'
    enabled: true
  }
  {
    category: 'RuntimeAuditLogs'
    enabled: true
  }
  {
    category: 'VNetAndIPFilteringLogs'
    enabled: true
  }
]

// A message lock of 5 minutes (the Standard maximum) outlasts the handler's in-invocation retry
// budget (RELAY_RETRY_BUDGET_SECONDS); the Functions host renews it for longer work.
var lockDuration = 'PT5M'
// shared.names.DUPLICATE_DETECTION_WINDOW_MINUTES: a resend with the same MessageId inside it is dropped.
var duplicateDetectionWindow = 'PT10M'
var messageTimeToLive = 'P14D'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: sku
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: publicNetworkAccess
  }
}

resource namespaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: workspaceId
    logs: isPrivate ? premiumLogs : standardLogs
  }
}

// Inbound referral requests. Rescheduled retries are sent back here by the create function.
resource requestsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'referral-requests'
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
    enablePartitioning: false
  }
}

// Updates and closes from the CRM (update_referral). Same settings as the requests queue: the
// update function reschedules its retries here; duplicate detection drops a resent update.
resource updatesQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'referral-updates'
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
    enablePartitioning: false
  }
}

// Outcome events (CloudEvents); MessageId is the deterministic event id, so duplicates collapse.
resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: 'referral-events'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    enablePartitioning: false
  }
}

// Read by the connect function: only created events of shared (co-sell) referrals.
resource connectSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: 'connect-referral'
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
  }
}

// Named `$Default` so that it replaces the catch-all rule every new subscription starts with:
// rules OR together, and a leftover 1=1 rule would let every event through.
resource connectFilter 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = {
  parent: connectSubscription
  name: '$Default'
  properties: {
    filterType: 'CorrelationFilter'
    correlationFilter: {
      label: 'referral-created'
      properties: {
        referralType: 'Shared'
      }
    }
  }
}

// Every outcome, read by the publishers' own systems (not by this app). Unread events expire
// after the time-to-live without dead-lettering: the dead-letter alert is about our pipeline.
resource outcomesSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: 'outcomes'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: false
    deadLetteringOnFilterEvaluationExceptions: false
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
  }
}

output name string = namespace.name
output id string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueName string = requestsQueue.name
output updatesQueueName string = updatesQueue.name
output topicName string = eventsTopic.name
output connectSubscriptionName string = connectSubscription.name
output outcomesSubscriptionName string = outcomesSubscription.name
