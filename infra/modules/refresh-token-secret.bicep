// The refresh-token secret's first version: a placeholder until `referral-relay login` writes the
// real token as a new version. It must exist at provisioning time because the app's role
// assignment is scoped to this one secret. keyvault.bicep deploys this module only while the
// secret does not exist yet, so re-provisioning never overwrites a stored token.

@description('Key Vault name.')
param keyVaultName string

@description('Secret name.')
param secretName string

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource refreshToken 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:The app rewrites this secret on every token rotation; Entra ID, not the vault, governs the token's lifetime, and an expired version would stop the relay.
  parent: vault
  name: secretName
  properties: {
    value: 'not-set: run referral-relay login'
    contentType: 'text/plain; purpose=partner-center-refresh-token'
    attributes: {
      enabled: true
    }
  }
}

output name string = refreshToken.name
