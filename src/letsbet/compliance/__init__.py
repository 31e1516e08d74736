"""Compliance: KYC, geofencing, responsible gaming, taxes, AML and audit."""
