using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Messaging.ServiceBus;

namespace ReferralRelay.Kit;

/// <summary>What the CRM needs from one outcome event.</summary>
public sealed record Outcome(
    string CrmId,
    string EventType,
    string? ReferralId,
    string? EngagementId,
    string? ConnectedReferralId,
    string? Status,
    IReadOnlyList<string> Errors,
    bool ReferralMayExist);

public static class Relay
{
    public const string Queue = "referral-requests";
    public const string Topic = "referral-events";
    public const string Subscription = "outcomes";

    /// <summary>Body = the create-referral JSON (UTF-8 bytes), MessageId = the CRM id.</summary>
    public static ServiceBusMessage ReferralMessage(JsonObject referral, string source = "crm")
    {
        var message = new ServiceBusMessage(BinaryData.FromString(referral.ToJsonString()))
        {
            MessageId = referral["externalReferenceId"]!.GetValue<string>(),
            CorrelationId = Guid.NewGuid().ToString(),
            ContentType = "application/json",
        };
        message.ApplicationProperties["source"] = source;
        return message;
    }

    public static async Task<string> SendReferralAsync(
        ServiceBusSender sender, JsonObject referral, CancellationToken cancellationToken = default)
    {
        var message = ReferralMessage(referral);
        await sender.SendMessageAsync(message, cancellationToken);
        return message.MessageId;
    }

    public static Outcome OutcomeOf(BinaryData body)
    {
        using var document = JsonDocument.Parse(body.ToMemory());
        var root = document.RootElement;
        var data = root.TryGetProperty("data", out var d) ? d : default;
        string? Text(string name) =>
            data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty(name, out var value)
            && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        var errors = new List<string>();
        if (data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty("errors", out var list)
            && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var error in list.EnumerateArray())
            {
                errors.Add($"{error.GetProperty("path").GetString()} {error.GetProperty("code").GetString()}");
            }
        }
        var status = string.Join("/", new[] { Text("status"), Text("substatus") }.Where(s => s is not null));
        var mayExist = data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty("referralMayExist", out var flag)
            && flag.ValueKind == JsonValueKind.True;
        return new Outcome(
            root.GetProperty("subject").GetString()!,
            root.GetProperty("type").GetString()!,
            Text("referralId"),
            Text("engagementId"),
            Text("connectedReferralId"),
            status.Length > 0 ? status : null,
            errors,
            mayExist);
    }

    /// <summary>
    /// YOUR CODE: update the CRM record outcome.CrmId. This default only prints.
    /// referral-created / -connected: store ReferralId and EngagementId (and the connected id);
    /// referral-rejected: show Errors to whoever owns the record;
    /// referral-failed: alert; with ReferralMayExist, do not recreate it by hand.
    /// </summary>
    public static Task WriteBackAsync(Outcome outcome)
    {
        Console.WriteLine(
            $"{outcome.EventType,-18}  crm={outcome.CrmId}  referral={outcome.ReferralId}  "
            + $"engagement={outcome.EngagementId}  connected={outcome.ConnectedReferralId}  "
            + $"status={outcome.Status}  {string.Join("  ", outcome.Errors)}");
        return Task.CompletedTask;
    }

    /// <summary>
    /// Receive outcomes; complete each after the write-back finished, abandon it when the
    /// write-back threw (it comes again, so make the write-back idempotent).
    /// </summary>
    public static async Task<int> ReceiveOutcomesAsync(
        ServiceBusReceiver receiver,
        Func<Outcome, Task> writeBack,
        int max = 100,
        TimeSpan? maxWait = null,
        CancellationToken cancellationToken = default)
    {
        var completed = 0;
        while (completed < max)
        {
            var batch = await receiver.ReceiveMessagesAsync(
                Math.Min(32, max - completed), maxWait ?? TimeSpan.FromSeconds(5), cancellationToken);
            if (batch.Count == 0)
            {
                return completed;
            }
            foreach (var message in batch)
            {
                try
                {
                    await writeBack(OutcomeOf(message.Body));
                }
                catch
                {
                    await receiver.AbandonMessageAsync(message, cancellationToken: cancellationToken);
                    throw;
                }
                await receiver.CompleteMessageAsync(message, cancellationToken);
                completed++;
            }
        }
        return completed;
    }

    public static string FullyQualified(string ns) =>
        ns.Contains('.') ? ns : $"{ns}.servicebus.windows.net";
}
