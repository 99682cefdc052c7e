// Every role assignment of the deployment, each on the narrowest scope that works and with its
// reason on the line above. None is on a namespace, resource group or subscription: tests/infra
// fails if one is.
//
// Target-based scaling: the Service Bus scale controller sizes the app from each trigger
// entity's active message count, which it reads through the Service Bus administration API (a
// "Manage" operation). Data Receiver does not grant it; the extension then reports the target
// scaler as unsupported and scaling falls back to peeking the first message. So with
// targetBasedScaling = true the app also gets Data Owner, scoped to exactly the entities it is
// triggered by (the two queues and the connect-referral subscription), never the namespace.

@description('Principal id of the function app\'s managed identity.')
param appPrincipalId string

@description('Principal id of the operator who runs azd and the referral-relay CLI; empty for none.')
param operatorPrincipalId string = ''

@description('Type of the operator principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

@description('Grant Data Owner on the two trigger entities so the scale controller can read their message counts.')
param targetBasedScaling bool = true

param serviceBusNamespaceName string
param queueName string
param updatesQueueName string
param topicName string
param connectSubscriptionName string
param storageAccountName string
param ledgerTableName string
param keyVaultName string
param refreshTokenSecretName string
param applicationInsightsName string

var roles = {
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var hasOperator = !empty(operatorPrincipalId)

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource requestsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: queueName
}

resource updatesQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: updatesQueueName
}

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: namespace
  name: topicName
}

resource connectSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = {
  parent: eventsTopic
  name: connectSubscriptionName
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' existing = {
  parent: storage
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' existing = {
  parent: tableService
  name: ledgerTableName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource refreshToken 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: vault
  name: refreshTokenSecretName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---- the function app's identity ----

// The create function's trigger receives (peek-lock, settle) the inbound queue.
resource appReceiveQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestsQueue.id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The create function sends rescheduled copies (scheduled enqueue time) back to the queue.
resource appSendQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestsQueue.id, appPrincipalId, roles.serviceBusDataSender)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The update function's trigger receives (peek-lock, settle) the updates queue.
resource appReceiveUpdates 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(updatesQueue.id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: updatesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The update function sends its rescheduled copies back to the updates queue.
resource appSendUpdates 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(updatesQueue.id, appPrincipalId, roles.serviceBusDataSender)
  scope: updatesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Target-based scaling reads the updates queue's runtime message count, a Manage operation.
resource appScaleUpdates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (targetBasedScaling) {
  name: guid(updatesQueue.id, appPrincipalId, roles.serviceBusDataOwner)
  scope: updatesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Every function publishes outcome events to the topic.
resource appSendTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsTopic.id, appPrincipalId, roles.serviceBusDataSender)
  scope: eventsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The connect function's trigger receives the connect-referral subscription (not outcomes).
resource appReceiveSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(connectSubscription.id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: connectSubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Target-based scaling reads the queue's runtime message count, a Manage operation (see top).
resource appScaleQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (targetBasedScaling) {
  name: guid(requestsQueue.id, appPrincipalId, roles.serviceBusDataOwner)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Target-based scaling reads the subscription's runtime message count, a Manage operation.
resource appScaleSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (targetBasedScaling) {
  name: guid(connectSubscription.id, appPrincipalId, roles.serviceBusDataOwner)
  scope: connectSubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host creates and leases its own containers, and Flex reads the deployment package: account scope.
resource appHostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The idempotency ledger: insert, read and ETag-guarded update of entities in this one table.
resource appLedger 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ledgerTable.id, appPrincipalId, roles.storageTableDataContributor)
  scope: ledgerTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read the refresh token and write the rotated one back (get + set), on this one secret only.
resource appRefreshToken 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(refreshToken.id, appPrincipalId, roles.keyVaultSecretsOfficer)
  scope: refreshToken
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Send telemetry with Entra ID auth (the component has local auth disabled).
resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- the operator (the azd user), for the referral-relay CLI ----

// `referral-relay send --queue referral-updates` publishes update messages.
resource operatorSendUpdates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(updatesQueue.id, operatorPrincipalId, roles.serviceBusDataSender)
  scope: updatesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// `referral-relay send` publishes referral requests to the queue; `dlq replay` resubmits to it.
resource operatorSendQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(requestsQueue.id, operatorPrincipalId, roles.serviceBusDataSender)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// `referral-relay dlq list|replay` reads and settles the queue's dead-letter sub-queue.
resource operatorReceiveQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(requestsQueue.id, operatorPrincipalId, roles.serviceBusDataReceiver)
  scope: requestsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// `referral-relay dlq list|replay` reads and settles the connect-referral dead-letter sub-queue.
resource operatorReceiveSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(connectSubscription.id, operatorPrincipalId, roles.serviceBusDataReceiver)
  scope: connectSubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// `referral-relay dlq replay` resubmits connect-referral dead letters through the topic.
resource operatorSendTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(eventsTopic.id, operatorPrincipalId, roles.serviceBusDataSender)
  scope: eventsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// `referral-relay login` writes the first refresh token into this one secret.
resource operatorRefreshToken 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(refreshToken.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: refreshToken
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
