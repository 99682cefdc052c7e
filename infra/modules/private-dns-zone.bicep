// One private DNS zone (privatelink.*) linked to the relay's virtual network, so names such as
// <account>.blob.core.windows.net resolve to the private endpoint inside it (network.bicep).

@description('Zone name, e.g. privatelink.blob.core.windows.net.')
param name string

@description('Tags for the resources.')
param tags object

@description('Resource id of the virtual network the zone is linked to.')
param virtualNetworkId string

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: name
  location: 'global'
  tags: tags
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: 'relay-vnet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: virtualNetworkId
    }
  }
}

output id string = zone.id
