//! `to_hash_fields` and `from_hash`: a struct stored as a Redis hash, one
//! field per struct field.

use std::any::type_name;
use std::fmt;

use serde::de::value::{MapDeserializer, StringDeserializer};
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::Serialize;

use crate::Error;

/// The fields of a struct (or map) of scalar values, for `HSET`: each name
/// with its value as text.
///
/// Strings are written as they are, numbers and booleans in their JSON
/// spelling (`42`, `1.5`, `true`), unit enum variants by name; fields that
/// are `None` are left out, so that [`from_hash`] reads them back as `None`.
/// A value that is not a struct or map, or a field that holds a sequence or
/// a nested struct, is an error: a hash has one level. (Store such a value
/// whole with [`Json`](crate::Json), or one field of it as `Json`.)
///
/// ```no_run
/// use redis_facade::prelude::*;
/// use redis_facade::{from_hash, to_hash_fields};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct User {
///     name: String,
///     visits: u32,
///     email: Option<String>,
/// }
///
/// # async fn run(conn: PairedConnection) -> Result<(), Error> {
/// let user = User { name: "Ada".into(), visits: 3, email: None };
/// // HSET user:1 name Ada visits 3
/// conn.hset_multiple("user:1", to_hash_fields(&user)?).await?;
/// conn.hincr_by("user:1", "visits", 1).await?;
///
/// let user: User = from_hash(conn.hgetall("user:1").await?)?;
/// assert_eq!(user.visits, 4);
/// # Ok(())
/// # }
/// ```
pub fn to_hash_fields<T: Serialize + ?Sized>(value: &T) -> Result<Vec<(String, String)>, Error> {
    use serde::ser::Error as _;

    let encode = |e: serde_json::Error| Error::Encode(std::sync::Arc::new(e));
    let serde_json::Value::Object(object) = serde_json::to_value(value).map_err(encode)? else {
        return Err(encode(serde_json::Error::custom(
            "only a struct or a map can be stored as a hash",
        )));
    };
    let mut fields = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(encode(serde_json::Error::custom(format_args!(
                    "field `{name}` is not a scalar: a hash has one level"
                ))))
            }
        };
        fields.push((name, text));
    }
    Ok(fields)
}

/// A struct (or map) read from the fields of a hash, as `HGETALL` returns
/// them; the inverse of [`to_hash_fields`].
///
/// Each field is parsed as the type the struct gives it: integers and floats
/// from their decimal text, `bool` from `true`/`false` (or `1`/`0`), unit
/// enum variants from their name, strings as they are. A missing field is
/// `None` for an `Option` (and its default with `#[serde(default)]`);
/// fields the struct does not name are ignored unless it says
/// `#[serde(deny_unknown_fields)]`.
///
/// A hash that does not fit is an [`Error::Conversion`] that names the type
/// and what was wrong: a field it requires is missing, or a value does not
/// parse as its field's type. `HGETALL` of a missing key is an empty hash,
/// so it fails the same way for a type with required fields; check for an
/// empty map first to treat it as absent.
pub fn from_hash<T: DeserializeOwned>(
    fields: impl IntoIterator<Item = (String, String)>,
) -> Result<T, Error> {
    let fields = fields.into_iter().map(|(name, text)| (name, Field(text)));
    T::deserialize(MapDeserializer::new(fields)).map_err(|FieldError(found)| Error::Conversion {
        target: type_name::<T>(),
        found,
        value: resp::Preview::none(),
    })
}

/// The value of one hash field, deserialized as the type that asks for it.
struct Field(String);

/// Why a hash did not fit the type: the `found` of the conversion error.
#[derive(Debug)]
struct FieldError(&'static str);

impl FieldError {
    const UNPARSABLE: FieldError =
        FieldError("hash with a field value that does not parse as its type");
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FieldError {}

impl serde::de::Error for FieldError {
    fn custom<T: fmt::Display>(_msg: T) -> FieldError {
        FieldError("hash that does not fit this type")
    }

    fn invalid_type(
        _unexp: serde::de::Unexpected<'_>,
        _exp: &dyn serde::de::Expected,
    ) -> FieldError {
        FieldError("hash with a field of a type a hash cannot hold")
    }

    fn unknown_variant(_variant: &str, _expected: &'static [&'static str]) -> FieldError {
        FieldError("hash with a field value that is not a variant of its enum")
    }

    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> FieldError {
        FieldError("hash with a field this type does not name")
    }

    fn missing_field(_field: &'static str) -> FieldError {
        FieldError("hash without a field this type requires")
    }
}

impl<'de> IntoDeserializer<'de, FieldError> for Field {
    type Deserializer = Field;

    fn into_deserializer(self) -> Field {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident: $t:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
            match self.0.parse::<$t>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(FieldError::UNPARSABLE),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Field {
    type Error = FieldError;

    /// Without a type to go by, a field is its text.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.0.as_str() {
            "true" | "1" => visitor.visit_bool(true),
            "false" | "0" => visitor.visit_bool(false),
            _ => Err(FieldError::UNPARSABLE),
        }
    }

    parse_as! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_byte_buf(self.0.into_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_byte_buf(self.0.into_bytes())
    }

    /// A field that is present is `Some`; a missing one never gets here.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    /// Unit variants, by name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let name: StringDeserializer<FieldError> = self.0.into_deserializer();
        visitor.visit_enum(name)
    }

    serde::forward_to_deserialize_any! {
        str string identifier ignored_any unit_struct seq tuple tuple_struct map struct
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Role {
        Admin,
        Guest,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct User {
        name: String,
        visits: u32,
        balance: f64,
        active: bool,
        role: Role,
        initial: char,
        email: Option<String>,
        zip: String,
    }

    fn ada() -> User {
        User {
            name: "Ada".into(),
            visits: 3,
            balance: -1.5,
            active: true,
            role: Role::Admin,
            initial: 'A',
            email: None,
            zip: "01234".into(),
        }
    }

    fn hash(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn scalar_fields_become_text_and_none_is_left_out() {
        let fields: BTreeMap<_, _> = to_hash_fields(&ada()).unwrap().into_iter().collect();
        let expected: BTreeMap<String, String> = hash(&[
            ("name", "Ada"),
            ("visits", "3"),
            ("balance", "-1.5"),
            ("active", "true"),
            ("role", "Admin"),
            ("initial", "A"),
            ("zip", "01234"),
        ])
        .into_iter()
        .collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn fields_round_trip_through_their_text() {
        let user: User = from_hash(to_hash_fields(&ada()).unwrap()).unwrap();
        assert_eq!(user, ada());
        let with_email = User {
            email: Some("ada@example.com".into()),
            role: Role::Guest,
            ..ada()
        };
        let user: User = from_hash(to_hash_fields(&with_email).unwrap()).unwrap();
        assert_eq!(user, with_email);
        // A string field keeps text that looks like a number.
        assert_eq!(user.zip, "01234");
    }

    #[test]
    fn maps_of_scalars_work_both_ways() {
        let scores: HashMap<String, i64> = from_hash(hash(&[("a", "1"), ("b", "-2")])).unwrap();
        assert_eq!(scores["b"], -2);
        let mut fields = to_hash_fields(&scores).unwrap();
        fields.sort();
        assert_eq!(
            fields,
            vec![("a".into(), "1".into()), ("b".into(), "-2".into())]
        );
    }

    #[test]
    fn nested_values_and_non_structs_are_refused() {
        #[derive(Serialize)]
        struct Nested {
            tags: Vec<String>,
        }
        let err = to_hash_fields(&Nested { tags: vec![] }).unwrap_err();
        assert!(matches!(err, Error::Encode(_)), "{err:?}");
        assert!(err.to_string().contains("`tags`"), "{err}");
        assert!(to_hash_fields(&42).is_err());
        assert!(to_hash_fields(&vec![1, 2]).is_err());
    }

    #[test]
    fn failures_name_the_type_and_the_problem() {
        let full = to_hash_fields(&ada()).unwrap();
        let with = |name: &str, value: &str| {
            let mut fields: HashMap<String, String> = full.iter().cloned().collect();
            fields.insert(name.into(), value.into());
            fields
        };
        let without = |name: &str| {
            let mut fields: HashMap<String, String> = full.iter().cloned().collect();
            fields.remove(name);
            fields
        };
        let cases = [
            (
                with("visits", "many"),
                "hash with a field value that does not parse as its type",
            ),
            (
                with("visits", "-1"),
                "hash with a field value that does not parse as its type",
            ),
            (
                with("active", "yes"),
                "hash with a field value that does not parse as its type",
            ),
            (
                with("role", "Root"),
                "hash with a field value that is not a variant of its enum",
            ),
            (without("name"), "hash without a field this type requires"),
            (HashMap::new(), "hash without a field this type requires"),
        ];
        for (fields, found) in cases {
            let err = from_hash::<User>(fields).unwrap_err();
            match err {
                Error::Conversion {
                    target, found: f, ..
                } => {
                    assert_eq!(target, type_name::<User>());
                    assert_eq!(f, found);
                }
                other => panic!("unexpected error {other:?}"),
            }
        }
    }
}
