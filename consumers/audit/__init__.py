"""The audit chain: every row of the audit tables hash-linked to the one before it, sealed by signed checkpoints.

``chains`` names the chained tables; ``canonical`` says what of a row is hashed and how;
``trail`` appends rows to their chains; ``checkpoints`` signs and keeps the seals, which
``seal`` writes; ``verify`` recomputes every chain against them; ``export`` hands a range
of rows and their checkpoints to someone who verifies them elsewhere.
"""
