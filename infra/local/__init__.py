"""The local stack: AWS emulator, Razorpay sandbox, seed data."""
