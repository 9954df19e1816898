//! XEP-0004 Data Forms (`jabber:x:data`).

use std::str::FromStr;

use starling_jid::Jid;
use starling_xml::Element;

use super::{expect, parse_bool, text_el};
use crate::error::{Condition, ParseError};
use crate::ns;
use crate::payload::Payload;

/// The var of the hidden field that names a form's type (XEP-0068).
pub const FORM_TYPE: &str = "FORM_TYPE";

/// What a form is for (XEP-0004 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FormType {
    /// The form-processing entity asks for data.
    #[default]
    Form,
    /// The form-submitting entity submits data.
    Submit,
    /// The submitter cancels.
    Cancel,
    /// Data returned (for example search results or a configuration).
    Result,
}

impl FormType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FormType::Form => "form",
            FormType::Submit => "submit",
            FormType::Cancel => "cancel",
            FormType::Result => "result",
        }
    }
}

impl FromStr for FormType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "form" => FormType::Form,
            "submit" => FormType::Submit,
            "cancel" => FormType::Cancel,
            "result" => FormType::Result,
            _ => return Err(ParseError::bad_request(format!("unknown form type {s:?}"))),
        })
    }
}

/// A field's type (XEP-0004 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `boolean`: one value, `0`/`false` or `1`/`true`.
    Boolean,
    /// `fixed`: text shown to the user, no var needed.
    Fixed,
    /// `hidden`: not shown; sent back unchanged.
    Hidden,
    /// `jid-single`: one JID.
    JidSingle,
    /// `jid-multi`: several JIDs.
    JidMulti,
    /// `list-single`: one of the options.
    ListSingle,
    /// `list-multi`: any of the options.
    ListMulti,
    /// `text-single`: one line of text (the default).
    TextSingle,
    /// `text-multi`: several lines, one value each.
    TextMulti,
    /// `text-private`: one line, hidden as it is typed (a password).
    TextPrivate,
}

impl FieldType {
    /// Every field type.
    pub const ALL: [FieldType; 10] = [
        FieldType::Boolean,
        FieldType::Fixed,
        FieldType::Hidden,
        FieldType::JidSingle,
        FieldType::JidMulti,
        FieldType::ListSingle,
        FieldType::ListMulti,
        FieldType::TextSingle,
        FieldType::TextMulti,
        FieldType::TextPrivate,
    ];

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Boolean => "boolean",
            FieldType::Fixed => "fixed",
            FieldType::Hidden => "hidden",
            FieldType::JidSingle => "jid-single",
            FieldType::JidMulti => "jid-multi",
            FieldType::ListSingle => "list-single",
            FieldType::ListMulti => "list-multi",
            FieldType::TextSingle => "text-single",
            FieldType::TextMulti => "text-multi",
            FieldType::TextPrivate => "text-private",
        }
    }

    /// Whether the type allows at most one value.
    pub fn is_single(self) -> bool {
        matches!(
            self,
            FieldType::Boolean
                | FieldType::JidSingle
                | FieldType::ListSingle
                | FieldType::TextSingle
                | FieldType::TextPrivate
        )
    }
}

impl FromStr for FieldType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        FieldType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError::bad_request(format!("unknown field type {s:?}")))
    }
}

/// An `<option/>` of a list field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldOption {
    /// What the user sees.
    pub label: Option<String>,
    /// What is submitted.
    pub value: String,
}

/// A form field (XEP-0004 §3.2).
///
/// ```
/// use starling_stanza::{Field, FieldType};
///
/// let f = Field::new("pubsub#deliver_notifications", FieldType::Boolean).with_value("1");
/// assert_eq!(f.bool_value(), Some(true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field's name; required except for `fixed` fields.
    pub var: Option<String>,
    /// The type; absent means `text-single` (often left out in submitted
    /// forms).
    pub field_type: Option<FieldType>,
    /// Human-readable name.
    pub label: Option<String>,
    /// Description (`<desc/>`).
    pub desc: Option<String>,
    /// Must be filled in (`<required/>`).
    pub required: bool,
    /// The values, in order.
    pub values: Vec<String>,
    /// The options of a list field.
    pub options: Vec<FieldOption>,
}

impl Field {
    /// A field with a var and a type, and nothing else.
    pub fn new(var: impl Into<String>, field_type: FieldType) -> Self {
        Field {
            var: Some(var.into()),
            field_type: Some(field_type),
            ..Field::default()
        }
    }

    /// Adds a value.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.values.push(value.into());
        self
    }

    /// The type, `text-single` when absent.
    pub fn kind(&self) -> FieldType {
        self.field_type.unwrap_or(FieldType::TextSingle)
    }

    /// The first value.
    pub fn value(&self) -> Option<&str> {
        self.values.first().map(String::as_str)
    }

    /// The value read as a boolean (`None` if absent or not a boolean).
    pub fn bool_value(&self) -> Option<bool> {
        self.value().and_then(|v| parse_bool("value", v).ok())
    }

    /// The values read as JIDs (`None` if one is not a JID).
    pub fn jid_values(&self) -> Option<Vec<Jid>> {
        self.values.iter().map(|v| v.parse().ok()).collect()
    }

    fn parse(el: &Element) -> Result<Field, ParseError> {
        let field_type = el.attr("type").map(str::parse).transpose()?;
        let var = el.attr("var").map(str::to_owned);
        if var.is_none() && field_type != Some(FieldType::Fixed) {
            return Err(ParseError::bad_request(
                "a field that is not 'fixed' must have a 'var'",
            ));
        }
        let mut field = Field {
            var,
            field_type,
            label: el.attr("label").map(str::to_owned),
            ..Field::default()
        };
        for c in el.children().filter(|c| c.ns() == ns::DATA_FORMS) {
            match c.name() {
                "value" => field.values.push(c.text()),
                "desc" if field.desc.is_none() => field.desc = Some(c.text()),
                "required" => field.required = true,
                "option" => {
                    let mut vals = c.children().filter(|v| v.is("value", ns::DATA_FORMS));
                    let (Some(v), None) = (vals.next(), vals.next()) else {
                        return Err(ParseError::bad_request(
                            "an <option/> must have exactly one <value/>",
                        ));
                    };
                    field.options.push(FieldOption {
                        label: c.attr("label").map(str::to_owned),
                        value: v.text(),
                    });
                }
                _ => {}
            }
        }
        let kind = field.kind();
        if kind.is_single() && field.values.len() > 1 {
            return Err(ParseError::bad_request(format!(
                "a {} field has more than one value",
                kind.as_str()
            )));
        }
        match kind {
            FieldType::Boolean => {
                for v in &field.values {
                    parse_bool("value", v)?;
                }
            }
            FieldType::JidSingle | FieldType::JidMulti => {
                for v in &field.values {
                    v.parse::<Jid>()
                        .map_err(|e| ParseError::jid_malformed("value", e))?;
                }
            }
            _ => {}
        }
        Ok(field)
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new("field", ns::DATA_FORMS);
        if let Some(v) = &self.var {
            el.set_attr("var", Some(v));
        }
        if let Some(t) = self.field_type {
            el.set_attr("type", Some(t.as_str()));
        }
        if let Some(l) = &self.label {
            el.set_attr("label", Some(l));
        }
        if let Some(d) = &self.desc {
            el.append_child(text_el("desc", ns::DATA_FORMS, d));
        }
        if self.required {
            el.append_child(Element::new("required", ns::DATA_FORMS));
        }
        for v in &self.values {
            el.append_child(text_el("value", ns::DATA_FORMS, v));
        }
        for o in &self.options {
            let mut e = Element::new("option", ns::DATA_FORMS);
            if let Some(l) = &o.label {
                e.set_attr("label", Some(l));
            }
            e.append_child(text_el("value", ns::DATA_FORMS, &o.value));
            el.append_child(e);
        }
        el
    }
}

fn parse_fields(el: &Element) -> Result<Vec<Field>, ParseError> {
    let fields = el
        .children()
        .filter(|c| c.is("field", ns::DATA_FORMS))
        .map(Field::parse)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, f) in fields.iter().enumerate() {
        if let Some(v) = &f.var {
            if fields[..i].iter().any(|g| g.var.as_ref() == Some(v)) {
                return Err(ParseError::bad_request(format!(
                    "two fields with var {v:?}"
                )));
            }
        }
    }
    Ok(fields)
}

fn write_fields(el: &mut Element, fields: &[Field]) {
    for f in fields {
        el.append_child(f.to_element());
    }
}

/// A data form (XEP-0004): a form to fill in, a submission, a cancellation
/// or a result, with an optional table of items (`<reported/>` and
/// `<item/>`, XEP-0004 §3.4).
///
/// Unknown children (XEP-0221 media, for example) are not kept.
///
/// ```
/// use starling_stanza::{DataForm, Field, FieldType, FormType, Payload};
///
/// let el = "<x xmlns='jabber:x:data' type='submit'>\
///     <field var='FORM_TYPE' type='hidden'><value>urn:example:config</value></field>\
///     <field var='colours' type='list-multi'><value>red</value><value>green</value></field>\
///     </x>".parse().unwrap();
/// let form = DataForm::from_element(&el).unwrap();
/// assert_eq!(form.form_type, FormType::Submit);
/// assert_eq!(form.form_type_value(), Some("urn:example:config"));
/// assert_eq!(form.values("colours"), ["red", "green"]);
/// assert_eq!(DataForm::from_element(&form.to_element()).unwrap(), form);
///
/// let built = DataForm::new(FormType::Submit)
///     .with_form_type("urn:example:config")
///     .with_field(Field::new("colours", FieldType::ListMulti).with_value("red").with_value("green"));
/// assert_eq!(built, form);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DataForm {
    /// What the form is for.
    pub form_type: FormType,
    /// The title.
    pub title: Option<String>,
    /// Instructions, one paragraph each.
    pub instructions: Vec<String>,
    /// The fields.
    pub fields: Vec<Field>,
    /// The columns of a multi-item result.
    pub reported: Option<Vec<Field>>,
    /// The rows of a multi-item result.
    pub items: Vec<Vec<Field>>,
}

impl DataForm {
    /// An empty form of the given type.
    pub fn new(form_type: FormType) -> Self {
        DataForm {
            form_type,
            ..DataForm::default()
        }
    }

    /// Adds the hidden `FORM_TYPE` field (XEP-0068) naming the form's
    /// namespace.
    #[must_use]
    pub fn with_form_type(self, namespace: impl Into<String>) -> Self {
        self.with_field(Field::new(FORM_TYPE, FieldType::Hidden).with_value(namespace))
    }

    /// Adds a field.
    #[must_use]
    pub fn with_field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// The value of the `FORM_TYPE` field, if any.
    pub fn form_type_value(&self) -> Option<&str> {
        self.value(FORM_TYPE)
    }

    /// The field named `var`.
    pub fn field(&self, var: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.var.as_deref() == Some(var))
    }

    /// The first value of the field named `var`.
    pub fn value(&self, var: &str) -> Option<&str> {
        self.field(var).and_then(Field::value)
    }

    /// The values of the field named `var` (empty if there is none).
    pub fn values(&self, var: &str) -> &[String] {
        self.field(var).map_or(&[], |f| f.values.as_slice())
    }
}

impl Payload for DataForm {
    const NAME: &'static str = "x";
    const NS: &'static str = ns::DATA_FORMS;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let form_type = el
            .attr("type")
            .ok_or_else(|| ParseError::bad_request("a data form must have a 'type'"))?
            .parse()?;
        let mut form = DataForm {
            form_type,
            fields: parse_fields(el)?,
            ..DataForm::default()
        };
        for c in el.children().filter(|c| c.ns() == ns::DATA_FORMS) {
            match c.name() {
                "title" if form.title.is_none() => form.title = Some(c.text()),
                "instructions" => form.instructions.push(c.text()),
                "reported" => {
                    if form.reported.is_some() {
                        return Err(ParseError::bad_request("more than one <reported/>"));
                    }
                    form.reported = Some(parse_fields(c)?);
                }
                "item" => form.items.push(parse_fields(c)?),
                _ => {}
            }
        }
        if !form.items.is_empty() && form.reported.is_none() {
            return Err(ParseError::new(
                Condition::BadRequest,
                "<item/> without <reported/>",
            ));
        }
        Ok(form)
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("type", Some(self.form_type.as_str()));
        if let Some(t) = &self.title {
            el.append_child(text_el("title", ns::DATA_FORMS, t));
        }
        for i in &self.instructions {
            el.append_child(text_el("instructions", ns::DATA_FORMS, i));
        }
        write_fields(&mut el, &self.fields);
        if let Some(r) = &self.reported {
            let mut e = Element::new("reported", ns::DATA_FORMS);
            write_fields(&mut e, r);
            el.append_child(e);
        }
        for item in &self.items {
            let mut e = Element::new("item", ns::DATA_FORMS);
            write_fields(&mut e, item);
            el.append_child(e);
        }
        el
    }
}
