using System.Text.Json.Nodes;

namespace ReferralRelay.Kit;

/// <summary>
/// Maps one CRM opportunity (examples/crm-opportunity.json) to the Partner Center create-referral
/// body. Adapt to your CRM. Private deal by default (not shared with Microsoft); with
/// shareWithMicrosoft and a solutionId it becomes a co-sell request, which needs a contact.
/// </summary>
public static class Crm
{
    public static JsonObject ReferralFromOpportunity(JsonObject opportunity)
    {
        var account = opportunity["account"]!.AsObject();
        var contact = opportunity["contact"] as JsonObject;
        var share = opportunity["shareWithMicrosoft"]?.GetValue<bool>() ?? false;
        var solutionId = opportunity["solutionId"]?.GetValue<string>();

        var customer = new JsonObject
        {
            ["name"] = account["name"]!.GetValue<string>(),
            ["address"] = new JsonObject
            {
                ["city"] = account["city"]?.GetValue<string>(),
                ["country"] = account["countryCode"]!.GetValue<string>(),
            },
        };
        if (contact is not null)
        {
            var member = new JsonObject();
            foreach (var key in new[] { "firstName", "lastName", "email", "phoneNumber" })
            {
                if (contact[key] is JsonNode value)
                {
                    member[key] = value.GetValue<string>();
                }
            }
            customer["team"] = new JsonArray(member);
        }

        var details = new JsonObject
        {
            ["dealValue"] = opportunity["amount"]?.GetValue<decimal>() ?? 0m,
            ["currency"] = opportunity["currency"]?.GetValue<string>() ?? "USD",
        };
        if (opportunity["closeDate"]?.GetValue<string>() is string closeDate)
        {
            details["closingDateTime"] = $"{closeDate}T00:00:00Z";
        }
        if (opportunity["notes"]?.GetValue<string>() is string notes)
        {
            details["notes"] = notes;
        }

        var referral = new JsonObject
        {
            ["externalReferenceId"] = opportunity["id"]!.GetValue<string>(), // the CRM id: the key
            ["name"] = opportunity["title"]!.GetValue<string>(),
            ["type"] = share ? "Shared" : "Independent",
            ["customerProfile"] = customer,
            ["consent"] = new JsonObject
            {
                ["consentToToShareInfoWithOthers"] = share, // the API's spelling, two "To"s
                ["consentToContact"] = contact is not null,
                ["consentToShareReferralWithMicrosoftSellers"] = share,
            },
            ["details"] = details,
        };
        if (share && solutionId is not null)
        {
            referral["target"] = new JsonArray(
                new JsonObject { ["type"] = "SolutionProfile", ["id"] = solutionId });
            details["requirements"] = new JsonObject
            {
                ["solutions"] = new JsonArray(new JsonObject { ["id"] = solutionId }),
            };
        }
        return referral;
    }
}
