// Alerts, all to one action group that e-mails the operator:
// - dead-lettered messages on the inbound queue and on the events topic (connect-referral);
// - a rate of referral-failed outcomes (log-based: the app logs one record per outcome);
// - failures to redeem the Partner Center refresh token (log-based), the sign that someone has to
//   run `referral-relay login` again;
// - configuration problems: invocations held because of a 401 after renewal, a 403 or our own
//   credentials (log-based).
// The log queries read the telemetry names in shared.names (TELEMETRY_OUTCOME, TELEMETRY_EVENT,
// TOKEN_REFRESH_FAILED); tests/infra checks that they match.

@description('Azure region of the log alert rules.')
param location string

@description('Tags for the resources.')
param tags object

@description('Name prefix of the alert resources.')
param namePrefix string

@description('E-mail address the alerts go to.')
param alertEmail string

@description('Service Bus namespace name.')
param serviceBusNamespaceName string

@description('Inbound queue name.')
param queueName string

@description('Events topic name (its metrics cover the connect-referral subscription).')
param topicName string

@description('Application Insights name.')
param applicationInsightsName string

@description('referral-failed outcomes tolerated per 15 minutes before the alert fires.')
@minValue(0)
param failedReferralsThreshold int = 0

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'relay-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// A message on the queue's dead-letter sub-queue: a request the pipeline gave up on. The alert
// resolves itself once `referral-relay dlq replay` (or a purge) empties the sub-queue.
resource queueDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-queue-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Dead-lettered messages on the referral-requests queue.'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredOnQueue'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                queueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Azure Monitor reports Service Bus metrics per queue or topic, not per subscription. The
// outcomes subscription never dead-letters on its own (no dead-lettering on expiry), so dead
// letters on the topic are connect-referral's - or a partner reader's explicit ones, which an
// operator wants to hear about too.
resource subscriptionDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-subscription-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Dead-lettered messages on the referral-events topic (connect-referral subscription).'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredOnSubscription'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                topicName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// One log record per published outcome carries customDimensions["relay.outcome"] = event type.
resource failedReferrals 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-referral-failed-rate'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'referral-failed outcomes'
    description: 'Referrals the pipeline gave up on after its retry budget (referral-failed events).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions["relay.outcome"]) == "referral-failed"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: failedReferralsThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// The token provider logs customDimensions["relay.event"] = "token-refresh-failed" on every failed
// redemption: as a warning when transient (Entra unreachable, 5xx), as an error when a person has
// to act (refresh token expired after ~90 days unused, revoked, consent withdrawn, app credential
// rejected). The alert counts the errors.
resource tokenRefreshFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-token-refresh-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Partner Center token refresh failures'
    description: 'Redeeming the refresh token failed: run referral-relay login again (docs/deploy.md).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions["relay.event"]) == "token-refresh-failed" and severityLevel >= 3'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// The deployment cannot call Partner Center (issue 12 §2): a 401 that persists after one token
// renewal, a 403 (no Referrals Admin role, Conditional Access), or our own credentials failing
// (refresh token dead or missing, app credential refused, Key Vault unreadable). Messages are held
// (rescheduled, then dead-lettered with a reason), never rejected, so nothing is lost - but every
// message fails until someone fixes the role or runs `referral-relay login`. The summary line of
// each held or failed invocation names the error's stable code (`error_code`, shared.partner_api.
// errors / shared.auth.errors CODE) and how the last Partner API call ended (`partner_status`: it
// says 401/403 even when error_code carries the service's own Graph code). tests/infra cross-checks
// the codes below against the exception classes.
resource configurationProblems 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-configuration-problem'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Partner Center configuration problem'
    description: 'Invocations held because the deployment cannot call Partner Center (401 after renewal, 403, or our own credentials): check the Referrals Admin role and consent, or run referral-relay login (docs/monitoring.md).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.outcome) in ("rescheduled", "failed") | where tostring(customDimensions.error_code) in ("configuration", "unauthenticated", "access_denied", "auth_error", "reauthentication_required", "refresh_token_missing", "app_credential_rejected", "token_request_failed", "refresh_token_store_error") or tostring(customDimensions.partner_status) in ("401", "403")'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
