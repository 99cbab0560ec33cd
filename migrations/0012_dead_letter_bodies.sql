-- A kept delivery body that is not JSON (a dead letter) is labelled 'text',
-- as its dead letter event is, so erasure searches its text for the people
-- it names. Bodies kept before were all labelled 'json'.
UPDATE deliveries SET raw_encoding = 'text'
  WHERE raw_encoding = 'json' AND raw_ref IS NULL AND NOT json_valid(raw);
