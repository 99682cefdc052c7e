"""Azure Functions (Python v2 model) entry point: builds the app and registers the blueprints."""

import azure.functions as func

from connect_referral import bp as connect_referral_bp
from create_referral import bp as create_referral_bp
from update_referral import bp as update_referral_bp

app = func.FunctionApp()
app.register_functions(create_referral_bp)
app.register_functions(connect_referral_bp)
app.register_functions(update_referral_bp)
