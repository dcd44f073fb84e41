//! Where domain enums meet their stored form, once for the whole database layer:
//! job and video states are PeerTube's integers, job types and file kinds their
//! strings. Row fields read them with `#[diesel(deserialize_as = …)]` (an unknown value
//! is a deserialization error, not a default) and queries compare columns with them
//! directly (`runner_jobs::state.eq(JobState::Pending)`).

use diesel::expression::AsExpression;
use diesel::sql_types::{Integer, Text};

use crate::domain::job::{JobState, JobType};
use crate::domain::video::{FileKind, VideoState};
use crate::domain::webhook::{DeliveryState, EventType};

/// A stored value that maps to no domain value.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored {what} `{value}`")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
}

macro_rules! integer_enum {
    ($ty:ty, $what:literal) => {
        impl TryFrom<i32> for $ty {
            type Error = UnknownValue;

            fn try_from(id: i32) -> Result<$ty, UnknownValue> {
                <$ty>::from_id(id).ok_or_else(|| UnknownValue {
                    what: $what,
                    value: id.to_string(),
                })
            }
        }

        impl From<$ty> for i32 {
            fn from(v: $ty) -> i32 {
                v.id()
            }
        }

        impl AsExpression<Integer> for $ty {
            type Expression = <i32 as AsExpression<Integer>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <i32 as AsExpression<Integer>>::as_expression(self.id())
            }
        }

        impl AsExpression<Integer> for &$ty {
            type Expression = <i32 as AsExpression<Integer>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <i32 as AsExpression<Integer>>::as_expression(self.id())
            }
        }
    };
}

macro_rules! text_enum {
    ($ty:ty, $what:literal, $parse:expr) => {
        impl TryFrom<String> for $ty {
            type Error = UnknownValue;

            fn try_from(s: String) -> Result<$ty, UnknownValue> {
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(&s).ok_or(UnknownValue {
                    what: $what,
                    value: s,
                })
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.as_str().to_owned()
            }
        }

        impl AsExpression<Text> for $ty {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Text> for &$ty {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }
    };
}

integer_enum!(JobState, "job state");
integer_enum!(VideoState, "video state");
text_enum!(JobType, "job type", |s| s.parse().ok());
text_enum!(FileKind, "file kind", FileKind::parse);
text_enum!(EventType, "event type", EventType::parse);
text_enum!(DeliveryState, "delivery state", DeliveryState::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_map_both_ways_and_unknown_ones_are_errors() {
        for s in JobState::ALL {
            assert_eq!(JobState::try_from(i32::from(s)).ok(), Some(s));
        }
        for s in VideoState::ALL {
            assert_eq!(VideoState::try_from(i32::from(s)).ok(), Some(s));
        }
        for t in JobType::ALL {
            assert_eq!(JobType::try_from(String::from(t)).ok(), Some(t));
        }
        for k in FileKind::ALL {
            assert_eq!(FileKind::try_from(String::from(k)).ok(), Some(k));
        }
        assert!(JobState::try_from(0).is_err());
        assert!(JobType::try_from("vod".to_owned()).is_err());
        assert!(FileKind::try_from("audio".to_owned()).is_err());
    }
}
