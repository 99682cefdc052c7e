"""connect_referral: Service Bus topic trigger. The function is declared by the pipeline work."""

import azure.functions as func

bp = func.Blueprint()
