// The operators' view: an Azure Monitor workbook over Application Insights (and the Service Bus
// dead-letter metric). Every query is explained, with what to do about it, in docs/monitoring.md.
// The queries read the telemetry names in shared/telemetry (the summary line of logger
// referral_relay.invocation, customDimensions relay.outcome / relay.event, the relay.* metrics);
// tests/unit/telemetry/test_workbook.py checks that they match.

@description('Azure region of the workbook.')
param location string

@description('Tags for the resources.')
param tags object

@description('Application Insights name (the workbook queries it).')
param applicationInsightsName string

@description('Service Bus namespace name (its dead-letter metric).')
param serviceBusNamespaceName string

@description('Display name of the workbook in the portal.')
param displayName string = 'Referral Relay operations'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

// The summary line every invocation writes (one per invocation, flat customDimensions).
var summaries = 'traces | where tostring(customDimensions.logger_name) == "referral_relay.invocation" | extend function = tostring(customDimensions.function), outcome = tostring(customDimensions.outcome), error_code = tostring(customDimensions.error_code)'

var throughputQuery = '${summaries} | summarize invocations = count() by bin(timestamp, 5m), function'
var outcomesQuery = '${summaries} | summarize count() by outcome'
var outcomesOverTimeQuery = '${summaries} | summarize count() by bin(timestamp, 15m), outcome'
var rejectionsQuery = '${summaries} | where outcome == "rejected" | summarize rejected = count() by error_code, function | order by rejected desc'
var failuresQuery = 'traces | where tostring(customDimensions["relay.outcome"]) == "referral-failed" | project timestamp, function = tostring(customDimensions.function), error_code = tostring(customDimensions.error_code), idempotency_key = tostring(customDimensions.idempotency_key), message_id = tostring(customDimensions.message_id), request_id = tostring(customDimensions.request_id), trace_id = operation_Id | order by timestamp desc'
var latencyQuery = '${summaries} | where outcome in ("created", "connected") | extend latency_s = todouble(customDimensions.latency_ms) / 1000 | summarize p50 = percentile(latency_s, 50), p95 = percentile(latency_s, 95), p99 = percentile(latency_s, 99) by bin(timestamp, 15m), function'
var durationQuery = '${summaries} | extend duration_ms = todouble(customDimensions.duration_ms) | summarize p50 = percentile(duration_ms, 50), p95 = percentile(duration_ms, 95), max = max(duration_ms) by function, outcome'
var apiCallsQuery = 'customMetrics | where name == "relay.partner_api.calls" | summarize calls = sum(valueSum) by bin(timestamp, 5m), status = tostring(customDimensions.status)'
var throttlingQuery = 'customMetrics | where name in ("relay.partner_api.throttles", "relay.partner_api.retry_wait") | summarize throttled = sumif(valueSum, name == "relay.partner_api.throttles"), retries = sumif(valueCount, name == "relay.partner_api.retry_wait"), retry_wait_s = sumif(valueSum, name == "relay.partner_api.retry_wait") by bin(timestamp, 5m)'
var givingUpQuery = '${summaries} | where outcome == "failed" | summarize deliveries = count(), last_seen = max(timestamp), last_error = take_any(error_code) by message_id = tostring(customDimensions.message_id), function | order by last_seen desc'
var tokenQuery = 'union (customMetrics | where name == "relay.token.refreshes" | summarize n = sum(valueSum) by bin(timestamp, 1h), what = strcat("refresh ", tostring(customDimensions.result))), (traces | where tostring(customDimensions["relay.event"]) == "token-refresh-failed" | summarize n = count() by bin(timestamp, 1h), what = strcat("failed: ", tostring(customDimensions.error_type)))'
var findQuery = '${summaries} | where "{Search}" != "" and (tostring(customDimensions.referral_id) == "{Search}" or tostring(customDimensions.engagement_id) == "{Search}" or tostring(customDimensions.connected_referral_id) == "{Search}" or tostring(customDimensions.message_id) in ("{Search}", strcat("sha256:", substring(hash_sha256("{Search}"), 0, 16))) or tostring(customDimensions.correlation_id) in ("{Search}", strcat("sha256:", substring(hash_sha256("{Search}"), 0, 16))) or tostring(customDimensions.idempotency_key) == "{Search}" or tostring(customDimensions.idempotency_key) == strcat("sha256:", substring(hash_sha256("{Search}"), 0, 16))) | project timestamp, function, outcome, referral_id = tostring(customDimensions.referral_id), engagement_id = tostring(customDimensions.engagement_id), trace_id = operation_Id | order by timestamp asc'
var traceQuery = 'union requests, dependencies, traces, exceptions | where "{TraceId}" != "" and operation_Id == "{TraceId}" | project timestamp, itemType, name = coalesce(name, message, type), duration, success, resultCode, details = customDimensions | order by timestamp asc'

var timeRange = 'TimeRange'

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'intro'
      content: {
        json: '## Referral Relay\nOne referral is one distributed trace: inbound message, create_referral, its Partner API calls, the referral-created event, connect_referral. Every query below is explained in docs/monitoring.md, with what to do about it.'
      }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          {
            id: 'b7c5e2a0-5b1e-4f0e-9a51-6d2f0b3c9a01'
            version: 'KqlParameterItem/1.0'
            name: timeRange
            label: 'Time range'
            type: 4
            isRequired: true
            value: {
              durationMs: 86400000
            }
            typeSettings: {
              selectableValues: [
                {
                  durationMs: 3600000
                }
                {
                  durationMs: 14400000
                }
                {
                  durationMs: 86400000
                }
                {
                  durationMs: 604800000
                }
                {
                  durationMs: 2592000000
                }
              ]
            }
          }
          {
            id: 'b7c5e2a0-5b1e-4f0e-9a51-6d2f0b3c9a02'
            version: 'KqlParameterItem/1.0'
            name: 'Search'
            label: 'Referral, engagement, message or CRM id'
            type: 1
            value: ''
          }
          {
            id: 'b7c5e2a0-5b1e-4f0e-9a51-6d2f0b3c9a03'
            version: 'KqlParameterItem/1.0'
            name: 'TraceId'
            label: 'Trace id'
            type: 1
            value: ''
          }
        ]
      }
    }
    {
      type: 3
      name: 'throughput'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Throughput: invocations per 5 minutes'
        query: throughputQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'timechart'
      }
    }
    {
      type: 3
      name: 'outcomes'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Outcomes'
        query: outcomesQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'piechart'
      }
    }
    {
      type: 3
      name: 'outcomes-over-time'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Outcomes over time'
        query: outcomesOverTimeQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'barchart'
      }
    }
    {
      type: 3
      name: 'rejections'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Rejections by error code'
        query: rejectionsQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'failures'
      customWidth: '100'
      content: {
        version: 'KqlItem/1.0'
        title: 'referral-failed: referrals the relay gave up on'
        query: failuresQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'latency'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Latency from enqueue to created / connected (s)'
        query: latencyQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'timechart'
      }
    }
    {
      type: 3
      name: 'duration'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Invocation duration (ms)'
        query: durationQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'api-calls'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Partner API calls by status'
        query: apiCallsQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'timechart'
      }
    }
    {
      type: 3
      name: 'throttling'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Throttling and retry waits'
        query: throttlingQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'timechart'
      }
    }
    {
      type: 10
      name: 'dead-letters'
      customWidth: '50'
      content: {
        chartId: 'workbook-relay-dead-letters'
        version: 'MetricsItem/2.0'
        title: 'Dead-lettered messages (queue and topic)'
        size: 0
        chartType: 2
        resourceType: 'microsoft.servicebus/namespaces'
        metricScope: 0
        resourceIds: [
          namespace.id
        ]
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        metrics: [
          {
            namespace: 'microsoft.servicebus/namespaces'
            metric: 'microsoft.servicebus/namespaces--DeadletteredMessages'
            aggregation: 3
            splitBy: 'EntityName'
          }
        ]
      }
    }
    {
      type: 3
      name: 'giving-up'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Messages on their way to the dead-letter queue'
        query: givingUpQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'tokens'
      customWidth: '50'
      content: {
        version: 'KqlItem/1.0'
        title: 'Token refreshes and failures'
        query: tokenQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'barchart'
      }
    }
    {
      type: 3
      name: 'find'
      customWidth: '100'
      content: {
        version: 'KqlItem/1.0'
        title: 'Find a referral (parameter Search)'
        query: findQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'trace'
      customWidth: '100'
      content: {
        version: 'KqlItem/1.0'
        title: 'Follow one trace (parameter TraceId)'
        query: traceQuery
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
        timeContextFromParameter: timeRange
        timeContext: {
          durationMs: 86400000
        }
        visualization: 'table'
      }
    }
  ]
  isLocked: false
  fallbackResourceIds: [
    appInsights.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'referral-relay-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string(workbookContent)
  }
}

output id string = workbook.id
