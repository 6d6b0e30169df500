//! The replies of the geo commands as types: positions and search matches,
//! read from their RESP2 and RESP3 shapes.

use resp::{Error, FromValue, ToArgs, Value};

/// A point on the map, as the server stores it (to about half a metre).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPosition {
    /// Degrees east, from -180 to 180.
    pub longitude: f64,
    /// Degrees north, from -85.05112878 to 85.05112878.
    pub latitude: f64,
}

impl FromValue for GeoPosition {
    /// `[longitude, latitude]`, as strings (RESP2) or doubles.
    fn from_value(value: Value) -> Result<GeoPosition, Error> {
        let (longitude, latitude) = FromValue::from_value(value)?;
        Ok(GeoPosition {
            longitude,
            latitude,
        })
    }
}

/// A unit of distance for the geo commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoUnit {
    /// Metres.
    Meters,
    /// Kilometres.
    Kilometers,
    /// Miles.
    Miles,
    /// Feet.
    Feet,
}

impl ToArgs for GeoUnit {
    fn write_args(&self, cmd: &mut resp::Command) {
        let unit: &[u8] = match self {
            GeoUnit::Meters => b"m",
            GeoUnit::Kilometers => b"km",
            GeoUnit::Miles => b"mi",
            GeoUnit::Feet => b"ft",
        };
        cmd.push_bulk(unit);
    }
}

/// One match of a `GEOSEARCH ... WITHCOORD WITHDIST`, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoMatch {
    /// The member.
    pub member: String,
    /// Its distance from the centre, in the unit of the search.
    pub distance: f64,
    /// Where it is.
    pub position: GeoPosition,
}

impl FromValue for GeoMatch {
    /// `[member, distance, [longitude, latitude]]`.
    fn from_value(value: Value) -> Result<GeoMatch, Error> {
        let (member, distance, position) = FromValue::from_value(value)?;
        Ok(GeoMatch {
            member,
            distance,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_matches_from_both_protocols() {
        let resp2 = Value::Array(vec![Value::bulk("13.361389"), Value::bulk("38.115556")]);
        let resp3 = Value::Array(vec![Value::Double(13.361389), Value::Double(38.115556)]);
        for value in [resp2.clone(), resp3] {
            let p = GeoPosition::from_value(value).unwrap();
            assert!(
                (p.longitude - 13.361389).abs() < 1e-9 && (p.latitude - 38.115556).abs() < 1e-9
            );
        }
        let found = Value::Array(vec![Value::bulk("Palermo"), Value::bulk("190.4424"), resp2]);
        let m = GeoMatch::from_value(found).unwrap();
        assert_eq!(m.member, "Palermo");
        assert!((m.distance - 190.4424).abs() < 1e-9);
        assert!(
            GeoPosition::from_value(Value::Array(vec![Value::bulk("x"), Value::bulk("1")]))
                .is_err()
        );
        assert!(Option::<GeoPosition>::from_value(Value::NullArray)
            .unwrap()
            .is_none());
    }
}
