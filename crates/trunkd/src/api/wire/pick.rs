//! Leaving attributes out of a response while it is serialised: those policy hides from the
//! caller, and those a `fields=` query did not ask for. [`Picked`] wraps a response struct and
//! hands its serializer an adapter that turns the struct into a map and drops the entries not
//! wanted, so selection costs nothing beyond the attributes written (no `serde_json::Value`).

use std::collections::HashSet;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::Render;

/// Which attributes of one item go out.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    hidden: &'a [&'static str],
    /// `None`: every attribute policy does not hide.
    wanted: Option<&'a HashSet<String>>,
}

impl<'a> Pick<'a> {
    pub fn new(hidden: &'a [&'static str], wanted: Option<&'a HashSet<String>>) -> Self {
        Self { hidden, wanted }
    }

    fn everything(&self) -> bool {
        self.hidden.is_empty() && self.wanted.is_none()
    }

    fn keeps(&self, key: &str) -> bool {
        !self.hidden.contains(&key) && self.wanted.is_none_or(|wanted| wanted.contains(key))
    }
}

/// A response struct with the attributes [`Pick`] keeps.
pub struct Picked<'a, T> {
    pub value: T,
    pub pick: Pick<'a>,
}

impl<T: Serialize> Serialize for Picked<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.pick.everything() {
            return self.value.serialize(serializer);
        }
        self.value.serialize(Picking {
            inner: serializer,
            pick: self.pick,
        })
    }
}

/// Items rendered one by one as they are written, each picked for `wanted` and its own hidden
/// attributes.
pub struct Items<'a, V> {
    pub items: &'a [V],
    pub wanted: Option<&'a HashSet<String>>,
}

impl<'a, V> Items<'a, V> {
    pub fn all(items: &'a [V]) -> Self {
        Self {
            items,
            wanted: None,
        }
    }
}

impl<V: Render> Serialize for Items<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.items.iter().map(|item| item.picked(self.wanted)))
    }
}

/// The serializer adapter: a struct becomes a map of the kept fields; anything else passes
/// through unchanged.
struct Picking<'a, S> {
    inner: S,
    pick: Pick<'a>,
}

struct PickedStruct<'a, M> {
    map: M,
    pick: Pick<'a>,
}

impl<M: SerializeMap> SerializeStruct for PickedStruct<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if self.pick.keeps(key) {
            self.map.serialize_entry(key, value)
        } else {
            Ok(())
        }
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.map.end()
    }
}

macro_rules! pass {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<'a, S: Serializer> Serializer for Picking<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = S::SerializeMap;
    type SerializeStruct = PickedStruct<'a, S::SerializeMap>;
    type SerializeStructVariant = S::SerializeStructVariant;

    pass! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(value)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, value)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<S::SerializeSeq, S::Error> {
        self.inner.serialize_seq(len)
    }

    fn serialize_tuple(self, len: usize) -> Result<S::SerializeTuple, S::Error> {
        self.inner.serialize_tuple(len)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<S::SerializeTupleStruct, S::Error> {
        self.inner.serialize_tuple_struct(name, len)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<S::SerializeTupleVariant, S::Error> {
        self.inner
            .serialize_tuple_variant(name, index, variant, len)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<S::SerializeMap, S::Error> {
        self.inner.serialize_map(len)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(PickedStruct {
            map: self.inner.serialize_map(None)?,
            pick: self.pick,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<S::SerializeStructVariant, S::Error> {
        self.inner
            .serialize_struct_variant(name, index, variant, len)
    }
}
