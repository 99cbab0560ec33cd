//! Newtypes for the identifiers WhatsApp hands us, so a message id is never
//! passed where a phone number id was meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as WhatsApp spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id_newtype!(
    /// A WhatsApp message id (`wamid.…`), unique per message across Meta.
    WaMessageId
);
id_newtype!(
    /// A customer's WhatsApp id: their phone number in WhatsApp's digits-only form.
    WaId
);
id_newtype!(
    /// The Graph id of one business phone number (a channel).
    PhoneNumberId
);
id_newtype!(
    /// A business-scoped user id (BSUID, `US.13491208655302741918`): who a
    /// customer is to one business portfolio, with or without a phone
    /// number. Kept exactly as Meta sends it, never read as a phone number.
    UserId
);
id_newtype!(
    /// wa-edge's own id of a contact (`ct_` and 24 hex digits), stable
    /// whatever identifiers the person is known by.
    ContactId
);
