"""Local stand-ins for Daraja and Flutterwave that speak their documented wire contracts.

Development (`letsbet run`) and tests run against these; production configuration refuses them.
The credentials below are what both sides use when simulator mode leaves a secret unset.
"""

SIM_CONSUMER_KEY = "letsbet-sim-consumer-key"
SIM_CONSUMER_SECRET = "letsbet-sim-consumer-secret"  # noqa: S105 - a simulator's, public by design
SIM_PASSKEY = "letsbet-sim-passkey-0000000000000000"
SIM_SHORTCODE = "174379"
SIM_INITIATOR_NAME = "letsbet-sim-initiator"
SIM_INITIATOR_PASSWORD = "letsbet-sim-initiator-password"  # noqa: S105
SIM_FLW_SECRET_KEY = "FLWSECK_TEST-letsbet-sim-X"  # noqa: S105
SIM_FLW_SECRET_HASH = "letsbet-sim-secret-hash"  # noqa: S105
