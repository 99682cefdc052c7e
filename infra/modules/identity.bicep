// The one user-assigned managed identity the function app runs as. User-assigned (not
// system-assigned) so that the role assignments exist before the app's first start and survive
// re-creating the app, and so that the Entra app registration can trust it as a federated credential.

@description('Name of the managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
