// Private networking, deployed only when main.bicep's publicNetworkAccess is 'Disabled'
// (docs/deploy.md, "Private networking"): a virtual network with one subnet for the Flex
// Consumption app's VNet integration and one for private endpoints; a private endpoint for each
// sub-resource the app reaches (Storage blob, queue and table; Key Vault; Service Bus), each
// registered in its privatelink DNS zone, which is linked to the network.

@description('Name prefix of the network resources.')
param namePrefix string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet the function app integrates with (delegated to Microsoft.App/environments, as Flex Consumption requires).')
param appSubnetPrefix string = '10.40.1.0/24'

@description('Subnet the private endpoints take their addresses from.')
param endpointSubnetPrefix string = '10.40.2.0/24'

@description('Storage account the app uses (host, deployment package, ledger).')
param storageAccountId string

@description('Key Vault holding the refresh token.')
param keyVaultId string

@description('Service Bus namespace (must be Premium: Standard has no private endpoints).')
param serviceBusNamespaceId string

var appSubnetName = 'app'
var endpointSubnetName = 'private-endpoints'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${namePrefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: endpointSubnetName
        properties: {
          addressPrefix: endpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

var appSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
var endpointSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, endpointSubnetName)

module blobZone 'private-dns-zone.bicep' = {
  name: 'zone-blob'
  params: {
    name: 'privatelink.blob.${environment().suffixes.storage}'
    tags: tags
    virtualNetworkId: vnet.id
  }
}

module queueZone 'private-dns-zone.bicep' = {
  name: 'zone-queue'
  params: {
    name: 'privatelink.queue.${environment().suffixes.storage}'
    tags: tags
    virtualNetworkId: vnet.id
  }
}

module tableZone 'private-dns-zone.bicep' = {
  name: 'zone-table'
  params: {
    name: 'privatelink.table.${environment().suffixes.storage}'
    tags: tags
    virtualNetworkId: vnet.id
  }
}

module vaultZone 'private-dns-zone.bicep' = {
  name: 'zone-vault'
  params: {
    name: 'privatelink.vaultcore.azure.net'
    tags: tags
    virtualNetworkId: vnet.id
  }
}

module serviceBusZone 'private-dns-zone.bicep' = {
  name: 'zone-servicebus'
  params: {
    name: 'privatelink.servicebus.windows.net'
    tags: tags
    virtualNetworkId: vnet.id
  }
}

module blobEndpoint 'private-endpoint.bicep' = {
  name: 'pe-blob'
  params: {
    name: '${namePrefix}-pe-blob'
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: storageAccountId
    groupId: 'blob'
    privateDnsZoneId: blobZone.outputs.id
  }
}

module queueEndpoint 'private-endpoint.bicep' = {
  name: 'pe-queue'
  params: {
    name: '${namePrefix}-pe-queue'
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: storageAccountId
    groupId: 'queue'
    privateDnsZoneId: queueZone.outputs.id
  }
}

module tableEndpoint 'private-endpoint.bicep' = {
  name: 'pe-table'
  params: {
    name: '${namePrefix}-pe-table'
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: storageAccountId
    groupId: 'table'
    privateDnsZoneId: tableZone.outputs.id
  }
}

module vaultEndpoint 'private-endpoint.bicep' = {
  name: 'pe-vault'
  params: {
    name: '${namePrefix}-pe-vault'
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: keyVaultId
    groupId: 'vault'
    privateDnsZoneId: vaultZone.outputs.id
  }
}

module serviceBusEndpoint 'private-endpoint.bicep' = {
  name: 'pe-servicebus'
  params: {
    name: '${namePrefix}-pe-servicebus'
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: serviceBusNamespaceId
    groupId: 'namespace'
    privateDnsZoneId: serviceBusZone.outputs.id
  }
}

output virtualNetworkId string = vnet.id
output appSubnetId string = appSubnetId
output endpointSubnetId string = endpointSubnetId
