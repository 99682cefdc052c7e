// Referral Relay kit for .NET: publish CRM opportunities and read outcomes.
//
//   dotnet run -- publish  --namespace sb-relay-prod.servicebus.windows.net ../crm-opportunity.json
//   dotnet run -- outcomes --namespace sb-relay-prod.servicebus.windows.net
//   dotnet run -- print-sample ../crm-opportunity.json   # the message it would send, no Azure
//
// Signs in with DefaultAzureCredential (managed identity in Azure, `az login` locally): Azure
// Service Bus Data Sender on the queue to publish, Data Receiver on `outcomes` to read.
// No connection strings, no keys.
using System.Text.Json.Nodes;
using Azure.Identity;
using Azure.Messaging.ServiceBus;
using ReferralRelay.Kit;

static string? Option(string[] args, string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

static IEnumerable<string> Paths(string[] args) =>
    args.Skip(1).Where((arg, i) => !arg.StartsWith("--") && (i == 0 || args[i] != "--namespace"));

static JsonObject Load(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

var command = args.FirstOrDefault();
if (command == "print-sample")
{
    foreach (var path in Paths(args))
    {
        var message = Relay.ReferralMessage(Crm.ReferralFromOpportunity(Load(path)));
        Console.WriteLine(new JsonObject
        {
            ["messageId"] = message.MessageId,
            ["contentType"] = message.ContentType,
            ["body"] = JsonNode.Parse(message.Body.ToString()),
        }.ToJsonString());
    }
    return 0;
}

var ns = Option(args, "--namespace");
if (ns is null || (command != "publish" && command != "outcomes"))
{
    Console.Error.WriteLine("usage: publish|outcomes --namespace NS [OPPORTUNITY.json...]");
    return 2;
}

await using var client = new ServiceBusClient(Relay.FullyQualified(ns), new DefaultAzureCredential());
if (command == "publish")
{
    await using var sender = client.CreateSender(Relay.Queue);
    foreach (var path in Paths(args))
    {
        var id = await Relay.SendReferralAsync(sender, Crm.ReferralFromOpportunity(Load(path)));
        Console.WriteLine($"sent MessageId={id}");
    }
    return 0;
}

await using var receiver = client.CreateReceiver(Relay.Topic, Relay.Subscription);
var count = await Relay.ReceiveOutcomesAsync(receiver, Relay.WriteBackAsync);
Console.Error.WriteLine($"{count} outcome(s)");
return 0;
