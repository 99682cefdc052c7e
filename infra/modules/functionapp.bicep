// Flex Consumption (FC1, Linux) plan and the Python function app. The app runs as the
// user-assigned identity for everything: host storage, deployment package, Service Bus,
// Application Insights, Key Vault and the Partner Center federated credential.
//
// App settings are exactly what the code reads (shared.settings.APP_SETTINGS plus the host's
// shared.names.HOST_SETTINGS, minus dev-only and credential-kind-specific ones); tests/infra
// enforces that. Settings Flex Consumption rejects (FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENT*, ...) are never set:
// runtime, version, scale and deployment source live in functionAppConfig instead.

@description('Function app name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('azd service name (azure.yaml) this app is the host of.')
param serviceName string

@description('Name of the user-assigned managed identity the app runs as.')
param identityName string

@description('Storage account for the host, the deployment package and the ledger.')
param storageAccountName string

@description('Blob container the app package is deployed to.')
param deploymentContainerName string

@description('Ledger table name.')
param ledgerTableName string

@description('Application Insights name.')
param applicationInsightsName string

@description('Fully qualified Service Bus namespace (<name>.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Key Vault name holding the refresh token.')
param keyVaultName string

@description('Refresh-token secret name.')
param refreshTokenSecretName string

@description('Python version of the Functions runtime.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Messages one instance processes at once (host.json serviceBus.maxConcurrentCalls override).')
@minValue(1)
@maxValue(1000)
param maxConcurrentCalls int

@description('Entra tenant id of the Partner Center account.')
param partnerTenantId string

@description('Application (client) id of the Partner Center app registration.')
param appClientId string

@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; empty for none. Set when public network access is disabled, so the app reaches Storage, Key Vault and Service Bus through their private endpoints.')
param virtualNetworkSubnetId string = ''

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225:Zone-redundant Flex Consumption is not offered in every Flex region; after a zonal outage the relay resumes from Service Bus.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  // checkov:skip=CKV_AZURE_222:Service Bus triggers only, no HTTP functions; azd deploys through the public SCM endpoint with Entra ID (basic auth is off).
  // checkov:skip=CKV_AZURE_17:No HTTP endpoints to protect with client certificates: the app has Service Bus triggers only.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales to zero by design; Service Bus keeps the work while no instance runs.
  // checkov:skip=CKV_AZURE_213:Health checks probe an HTTP path; the app has Service Bus triggers only.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // Functions host: identity-based connections (no connection strings, no keys).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'ServiceBusConnection__credential'
          value: 'managedidentity'
        }
        {
          name: 'ServiceBusConnection__clientId'
          value: identity.properties.clientId
        }
        // Telemetry with Entra ID auth, because the Application Insights resource refuses keys.
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        // maximumInstanceCount x maxConcurrentCalls bounds the global request rate to the Partner API.
        {
          name: 'AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls'
          value: string(maxConcurrentCalls)
        }
        // Our code (shared.settings.Settings).
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'RELAY_PARTNER_TENANT_ID'
          value: partnerTenantId
        }
        {
          name: 'RELAY_PARTNER_CLIENT_ID'
          value: appClientId
        }
        {
          name: 'RELAY_PARTNER_API_URL'
          value: 'https://api.partner.microsoft.com'
        }
        {
          name: 'RELAY_AUTHORITY_HOST'
          value: 'https://login.microsoftonline.com'
        }
        {
          name: 'RELAY_APP_CREDENTIAL'
          value: 'federated'
        }
        {
          name: 'RELAY_REFRESH_TOKEN_STORE'
          value: 'keyvault://${keyVaultName}/${refreshTokenSecretName}'
        }
        {
          name: 'RELAY_LEDGER_TABLE_URL'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'RELAY_LEDGER_TABLE'
          value: ledgerTableName
        }
        {
          name: 'RELAY_MAX_ATTEMPTS'
          value: '5'
        }
        {
          name: 'RELAY_RETRY_BUDGET_SECONDS'
          value: '45'
        }
        {
          name: 'RELAY_CLAIM_TTL_SECONDS'
          value: '120'
        }
        {
          name: 'RELAY_HTTP_CONNECT_TIMEOUT_SECONDS'
          value: '5'
        }
        {
          name: 'RELAY_HTTP_READ_TIMEOUT_SECONDS'
          value: '30'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Deployment goes through Entra ID (azd, the Functions extension); basic-auth publishing is off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
