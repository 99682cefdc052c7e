// One private endpoint for one sub-resource (blob, table, queue, vault, namespace), registered in
// its private DNS zone so the service's usual host name resolves to the private address.

@description('Private endpoint name.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('Subnet the endpoint takes its address from.')
param subnetId string

@description('Resource id of the service the endpoint connects to.')
param serviceId string

@description('Private-link sub-resource (group id): blob, table, queue, vault or namespace.')
@allowed([
  'blob'
  'table'
  'queue'
  'vault'
  'namespace'
])
param groupId string

@description('Resource id of the privatelink DNS zone of that sub-resource.')
param privateDnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource dnsGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = endpoint.id
