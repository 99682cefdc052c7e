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

// shared.names.REFRESH_TOKEN_SECRET
var refreshTokenSecretName = 'partner-refresh-token'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  // checkov:skip=CKV_AZURE_109:The app (Flex Consumption, no fixed outbound IPs) and the operator's referral-relay login reach the vault publicly; access is RBAC on one secret.
  // checkov:skip=CKV_AZURE_189:The app (Flex Consumption, no fixed outbound IPs) and the operator's referral-relay login reach the vault publicly; access is RBAC on one secret.
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
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
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

output name string = vault.name
output id string = vault.id
output refreshTokenSecretName string = refreshTokenSecretName
