//! The provenance recorder both importers (config.json and GGUF) write through: each spec field's
//! value with what it rests on, and the warnings a reader should see beside the spec.

use super::{Basis, FieldNote};

#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub notes: Vec<FieldNote>,
    pub warnings: Vec<String>,
}

impl Provenance {
    /// Records `field` = `value`; a later record of the same field replaces the earlier one.
    pub fn record(&mut self, field: &str, value: impl ToString, basis: Basis, source: impl Into<String>) {
        self.notes.retain(|n| n.field != field);
        self.notes.push(FieldNote {
            field: field.to_string(),
            value: value.to_string(),
            basis,
            source: source.into(),
        });
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// The recorded value of `field`, if any.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.notes.iter().find(|n| n.field == field).map(|n| n.value.as_str())
    }
}
