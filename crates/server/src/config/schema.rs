//! Every key the settings structs know and the kind of its value, read from their
//! `Deserialize` impls: the one list the environment layer, the unknown-key check, the docs
//! test and the check-config test all use.

use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::value::{Error, StrDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::sections::{Secret, Sections};

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Str,
    /// Text that is a secret.
    Secret,
    /// `true`/`false`.
    Bool,
    /// A whole number.
    Int,
    /// A number.
    Float,
    /// A list (comma-separated in the environment).
    List(Box<Kind>),
    /// A table of names to values (`claude.env`).
    Map(Box<Kind>),
}

/// One key: its dotted path (`server.port`) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `section.key`.
    pub path: String,
    /// What it holds.
    pub kind: Kind,
}

impl Key {
    /// The `ORCHESTRA__SECTION__KEY` variable.
    pub fn env_name(&self) -> String {
        format!(
            "ORCHESTRA__{}",
            self.path.replace('.', "__").to_ascii_uppercase()
        )
    }
}

/// Every key of the config file, in declaration order.
pub fn keys() -> &'static [Key] {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut out = Vec::new();
        // The tracer hands every visitor a value it accepts, so this cannot fail; if it
        // did, the list would be short and the docs test would say so.
        let _ = Sections::deserialize(Tracer {
            path: String::new(),
            out: &mut out,
        });
        out
    })
}

/// The key at `path`, if any.
pub fn find(path: &str) -> Option<&'static Key> {
    keys().iter().find(|k| k.path == path)
}

/// A deserializer that answers every request with a placeholder and writes down what was
/// asked for, key by key.
struct Tracer<'a> {
    path: String,
    out: &'a mut Vec<Key>,
}

impl Tracer<'_> {
    fn leaf(self, kind: Kind) {
        self.out.push(Key {
            path: self.path,
            kind,
        });
    }
}

/// The kind that one value's `Deserialize` asks for (list items, map values).
fn kind_of<'de, T: DeserializeSeed<'de>>(seed: T) -> Result<(T::Value, Kind), Error> {
    let mut out = Vec::new();
    let v = seed.deserialize(Tracer {
        path: String::new(),
        out: &mut out,
    })?;
    let kind = out.pop().map_or(Kind::Str, |k| k.kind);
    Ok((v, kind))
}

macro_rules! leaf {
    ($($method:ident => $kind:expr, $visit:ident($value:expr);)*) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            self.leaf($kind);
            v.$visit($value)
        })*
    };
}

impl<'de> Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    leaf! {
        deserialize_bool => Kind::Bool, visit_bool(false);
        deserialize_u8 => Kind::Int, visit_u64(0);
        deserialize_u16 => Kind::Int, visit_u64(0);
        deserialize_u32 => Kind::Int, visit_u64(0);
        deserialize_u64 => Kind::Int, visit_u64(0);
        deserialize_i8 => Kind::Int, visit_i64(0);
        deserialize_i16 => Kind::Int, visit_i64(0);
        deserialize_i32 => Kind::Int, visit_i64(0);
        deserialize_i64 => Kind::Int, visit_i64(0);
        deserialize_f32 => Kind::Float, visit_f64(0.0);
        deserialize_f64 => Kind::Float, visit_f64(0.0);
        deserialize_str => Kind::Str, visit_str("");
        deserialize_string => Kind::Str, visit_str("");
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!("{}: untyped value", self.path)))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        if name == Secret::NAME {
            self.leaf(Kind::Secret);
            return v.visit_str("");
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let mut seq = OneItem { kind: None };
        let value = v.visit_seq(&mut seq)?;
        self.leaf(Kind::List(Box::new(seq.kind.unwrap_or(Kind::Str))));
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let mut map = OneEntry {
            kind: None,
            done: false,
        };
        let value = v.visit_map(&mut map)?;
        self.leaf(Kind::Map(Box::new(map.kind.unwrap_or(Kind::Str))));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_map(Fields {
            prefix: self.path,
            fields,
            next: 0,
            out: self.out,
        })
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct enum identifier
        ignored_any
    }
}

/// A struct's fields, one after the other, each traced under its path.
struct Fields<'a> {
    prefix: String,
    fields: &'static [&'static str],
    next: usize,
    out: &'a mut Vec<Key>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let de: StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields.get(self.next).copied().unwrap_or_default();
        self.next += 1;
        let path = if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        };
        seed.deserialize(Tracer {
            path,
            out: self.out,
        })
    }
}

/// A list with one traced item.
struct OneItem {
    kind: Option<Kind>,
}

impl<'de> SeqAccess<'de> for &mut OneItem {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.kind.is_some() {
            return Ok(None);
        }
        let (v, kind) = kind_of(seed)?;
        self.kind = Some(kind);
        Ok(Some(v))
    }
}

/// A map with one traced entry.
struct OneEntry {
    kind: Option<Kind>,
    done: bool,
}

impl<'de> MapAccess<'de> for &mut OneEntry {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        let de: StrDeserializer<'_, Error> = "key".into_deserializer();
        seed.deserialize(de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (v, kind) = kind_of(seed)?;
        self.kind = Some(kind);
        Ok(v)
    }
}
