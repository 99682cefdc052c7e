// Key Vault for the Partner Center refresh token (Secure Application Model). RBAC only (no access
// policies), soft delete and purge protection on. The app may read and rewrite this one secret
// (rotation write-back); see roles.bicep.

@description('Key Vault name: 3-24 letters, digits and dashes.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('True once the refresh-token secret exists (azd sets it after the first provision), so that re-provisioning never overwrites the token `referral-relay login` stored.')
param refreshTokenSecretExists bool = false

@description('Enabled: reachable over the internet (RBAC on one secret). Disabled: private endpoint only (network.bicep); `referral-relay login` must then run inside the network (docs/deploy.md).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Log Analytics workspace the audit log goes to.')
param workspaceId string

var isPrivate = publicNetworkAccess == 'Disabled'

// shared.names.REFRESH_TOKEN_SECRET
var refreshTokenSecretName = 'partner-refresh-token'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  // checkov:skip=CKV_AZURE_109:Default Enabled: the app (Flex, no fixed outbound IPs) and referral-relay login reach it publicly with RBAC on one secret; publicNetworkAccess=Disabled denies it.
  // checkov:skip=CKV_AZURE_189:Default Enabled: the app (Flex, no fixed outbound IPs) and referral-relay login reach it publicly with RBAC on one secret; publicNetworkAccess=Disabled turns it off.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: isPrivate ? 'Deny' : 'Allow'
    }
  }
}

// The placeholder secret, only while it does not exist (see refresh-token-secret.bicep).
module refreshTokenPlaceholder 'refresh-token-secret.bicep' = if (!refreshTokenSecretExists) {
  name: 'refresh-token-placeholder'
  params: {
    keyVaultName: vault.name
    secretName: refreshTokenSecretName
  }
}

// Every read and rotation of the refresh token (SecretGet, SecretSet), with the caller's identity:
// the audit trail of the credential that can create referrals in the partner's name.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output refreshTokenSecretName string = refreshTokenSecretName
