// Referral Relay: everything `azd up` provisions. Subscription scope so that azd creates the
// resource group too. Design: /docs/deploy.md; least privilege: modules/roles.bicep.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of all resources (one with Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Python version of the Functions runtime.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Most instances the app scales out to. With maxConcurrentCalls it bounds the global request rate to the Partner API.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Messages one instance processes at once (overrides host.json through an app setting).')
@minValue(1)
@maxValue(1000)
param maxConcurrentCalls int = 16

@description('Deliveries of one message before Service Bus dead-letters it.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 10

@minLength(1)
@description('Entra tenant id of the Partner Center account (RELAY_PARTNER_TENANT_ID).')
param partnerTenantId string

@minLength(1)
@description('Application (client) id of the Partner Center app registration (RELAY_PARTNER_CLIENT_ID).')
param appClientId string

@minLength(3)
@description('E-mail address alerts are sent to.')
param alertEmail string

@description('Grant Data Owner on the trigger entities so the scale controller can use target-based scaling (see modules/roles.bicep).')
param targetBasedScaling bool = true

@description('Principal id of the operator running azd; gets the CLI\'s roles. Empty for none.')
param operatorPrincipalId string = ''

@description('Type of the operator principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

@description('True once the refresh-token secret exists (the postprovision hook sets it), so that re-provisioning never overwrites it.')
param refreshTokenSecretExists bool = false

@description('Enabled (default): Storage, Key Vault and Service Bus Standard are reachable over the internet, with Entra ID RBAC only. Disabled: their public endpoints are off; a virtual network with private endpoints and DNS zones is added, the function app is VNet-integrated and Service Bus becomes Premium. Operator commands (azd deploy, referral-relay login/send/dlq) must then run inside that network (docs/deploy.md, "Private networking").')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

// The azd service in azure.yaml whose code this function app hosts.
var serviceName = 'relay'
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var isPrivate = publicNetworkAccess == 'Disabled'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-relay-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    publicNetworkAccess: publicNetworkAccess
    workspaceId: monitoring.outputs.workspaceId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
    maxDeliveryCount: maxDeliveryCount
    publicNetworkAccess: publicNetworkAccess
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    refreshTokenSecretExists: refreshTokenSecretExists
    publicNetworkAccess: publicNetworkAccess
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Only with publicNetworkAccess = 'Disabled': the network, private endpoints and DNS zones.
module network 'modules/network.bicep' = if (isPrivate) {
  name: 'network'
  scope: rg
  params: {
    namePrefix: 'relay-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
    keyVaultId: keyVault.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-relay-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: serviceName
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    ledgerTableName: storage.outputs.ledgerTableName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultName: keyVault.outputs.name
    refreshTokenSecretName: keyVault.outputs.refreshTokenSecretName
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    maxConcurrentCalls: maxConcurrentCalls
    partnerTenantId: partnerTenantId
    appClientId: appClientId
    virtualNetworkSubnetId: isPrivate ? network.outputs.appSubnetId : ''
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    targetBasedScaling: targetBasedScaling
    serviceBusNamespaceName: serviceBus.outputs.name
    queueName: serviceBus.outputs.queueName
    updatesQueueName: serviceBus.outputs.updatesQueueName
    topicName: serviceBus.outputs.topicName
    connectSubscriptionName: serviceBus.outputs.connectSubscriptionName
    storageAccountName: storage.outputs.name
    ledgerTableName: storage.outputs.ledgerTableName
    keyVaultName: keyVault.outputs.name
    refreshTokenSecretName: keyVault.outputs.refreshTokenSecretName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'relay-${resourceToken}'
    alertEmail: alertEmail
    serviceBusNamespaceName: serviceBus.outputs.name
    queueName: serviceBus.outputs.queueName
    topicName: serviceBus.outputs.topicName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// The operators' view in the portal: throughput, outcomes, latency, throttling, dead letters
// (docs/monitoring.md).
module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusNamespaceName: serviceBus.outputs.name
  }
}

// azd writes these into .azure/<env>/.env (`azd env get-value NAME`).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output KEY_VAULT_NAME string = keyVault.outputs.name
output RELAY_REFRESH_TOKEN_STORE string = 'keyvault://${keyVault.outputs.name}/${keyVault.outputs.refreshTokenSecretName}'
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output RELAY_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output RELAY_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
