"""The bulk path: Python moves message bodies, the engine decodes, checks, tags and stores them.

Per message the consumer only checks the wire header and keeps the body
(``stage``). Per flush, each schema's bodies go to the engine as one Avro object
container (``container``); SQL generated from the schemas and the policy
(``sql``) decodes, validates, pseudonymises and tags them in the engine
(``settle``). Any message that is not plainly ordinary (a check the SQL cannot
vouch for, a person with a control on record, a consent to look up that did not
hold, a body the engine cannot read) goes through the per-message path instead,
whose verdict is the reference: both paths store the same rows.
"""
