//! template.yaml as the local stack reads it: parameters (defaults plus overrides, checked
//! against the template's own constraints), conditions, and the intrinsic functions the
//! template uses, resolved against the resources the stack created. Reading the one
//! template keeps the local stack from drifting away from what `sam deploy` creates.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value};

use crate::Error;

pub const REGION: &str = "us-east-1";
/// LocalStack's default account: the ARNs it hands out carry it.
pub const ACCOUNT_ID: &str = "000000000000";

/// What `Ref` and `Fn::GetAtt` give for one created resource.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    doc: Value,
    parameters: BTreeMap<String, String>,
    stack_name: String,
    physical: HashMap<String, Physical>,
}

impl Template {
    pub fn load(path: &Path, stack_name: &str, overrides: &[(String, String)]) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Template(format!("{}: {e}", path.display())))?;
        Self::parse(&text, stack_name, overrides)
    }

    pub fn parse(text: &str, stack_name: &str, overrides: &[(String, String)]) -> Result<Self, Error> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| Error::Template(format!("template.yaml: {e}")))?;
        let doc = serde_json::to_value(yaml).map_err(|e| Error::Template(format!("template.yaml: {e}")))?;
        let declared = doc["Parameters"].as_object().cloned().unwrap_or_default();
        let mut parameters = BTreeMap::new();
        for (name, spec) in &declared {
            if let Some(default) = spec.get("Default") {
                parameters.insert(name.clone(), scalar(default));
            }
        }
        for (name, value) in overrides {
            let spec = declared.get(name).ok_or_else(|| {
                Error::Template(format!("parameter {name} is not declared in template.yaml (see its Parameters)"))
            })?;
            check_parameter(name, spec, value)?;
            parameters.insert(name.clone(), value.clone());
        }
        if let Some(missing) = declared.keys().find(|name| !parameters.contains_key(*name)) {
            return Err(Error::Template(format!("parameter {missing} has no default; pass --param {missing}=VALUE")));
        }
        Ok(Template { doc, parameters, stack_name: stack_name.to_owned(), physical: HashMap::new() })
    }

    pub fn stack_name(&self) -> &str {
        &self.stack_name
    }

    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// Resources of one type, in template order, skipping those whose condition is false.
    pub fn resources_of_type(&self, resource_type: &str) -> Result<Vec<(String, Value)>, Error> {
        let mut out = Vec::new();
        for (id, resource) in self.doc["Resources"].as_object().into_iter().flatten() {
            if resource["Type"] != resource_type {
                continue;
            }
            if let Some(condition) = resource["Condition"].as_str()
                && !self.condition(condition)?
            {
                continue;
            }
            out.push((id.clone(), resource.clone()));
        }
        Ok(out)
    }

    pub fn globals(&self, section: &str) -> Value {
        self.doc["Globals"][section].clone()
    }

    /// Records what a created resource's `Ref` and attributes are.
    pub fn created(&mut self, logical_id: &str, physical: Physical) {
        self.physical.insert(logical_id.to_owned(), physical);
    }

    pub fn physical(&self, logical_id: &str) -> Option<&Physical> {
        self.physical.get(logical_id)
    }

    /// A physical name in the style CloudFormation generates: stack, logical id.
    pub fn physical_name(&self, logical_id: &str) -> String {
        format!("{}-{logical_id}", self.stack_name)
    }

    pub fn condition(&self, name: &str) -> Result<bool, Error> {
        let definition = self.doc["Conditions"]
            .get(name)
            .ok_or_else(|| Error::Template(format!("condition {name} is not declared")))?;
        truthy(&self.resolve(definition)?)
    }

    /// Evaluates the intrinsic functions in `value`: Ref, Fn::GetAtt, Fn::Sub, Fn::FindInMap,
    /// Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Join, Fn::Select, Condition.
    pub fn resolve(&self, value: &Value) -> Result<Value, Error> {
        match value {
            Value::Array(items) => items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>().map(Value::Array),
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                match intrinsic_name(key) {
                    Some(function) => self.intrinsic(function, arg),
                    None => Ok(Value::Object(Map::from_iter([(key.clone(), self.resolve(arg)?)]))),
                }
            }
            Value::Object(map) => {
                map.iter().map(|(k, v)| Ok((k.clone(), self.resolve(v)?))).collect::<Result<_, _>>().map(Value::Object)
            }
            other => Ok(other.clone()),
        }
    }

    pub fn resolve_string(&self, value: &Value) -> Result<String, Error> {
        Ok(scalar(&self.resolve(value)?))
    }

    fn intrinsic(&self, function: &str, arg: &Value) -> Result<Value, Error> {
        let args = |n: usize| -> Result<Vec<Value>, Error> {
            match arg {
                Value::Array(items) if items.len() == n => Ok(items.clone()),
                _ => Err(Error::Template(format!("Fn::{function} takes {n} arguments, got {arg}"))),
            }
        };
        match function {
            "Ref" => self.reference(arg.as_str().unwrap_or_default()).map(Value::String),
            "GetAtt" => {
                let (resource, attribute) = match arg {
                    Value::String(s) => s.split_once('.').unwrap_or((s, "")),
                    Value::Array(items) if items.len() == 2 => {
                        (items[0].as_str().unwrap_or_default(), items[1].as_str().unwrap_or_default())
                    }
                    _ => return Err(Error::Template(format!("Fn::GetAtt {arg} is malformed"))),
                };
                self.attribute(resource, attribute).map(Value::String)
            }
            "Sub" => {
                let (text, vars) = match arg {
                    Value::String(s) => (s.as_str(), Map::new()),
                    Value::Array(items) if items.len() == 2 => {
                        (items[0].as_str().unwrap_or_default(), items[1].as_object().cloned().unwrap_or_default())
                    }
                    _ => return Err(Error::Template(format!("Fn::Sub {arg} is malformed"))),
                };
                self.substitute(text, &vars).map(Value::String)
            }
            "FindInMap" => {
                let [map, top, second] = <[Value; 3]>::try_from(args(3)?).expect("three");
                let (map, top, second) =
                    (self.resolve_string(&map)?, self.resolve_string(&top)?, self.resolve_string(&second)?);
                self.doc["Mappings"][&map][&top]
                    .get(&second)
                    .cloned()
                    .ok_or_else(|| Error::Template(format!("Fn::FindInMap: no {map}.{top}.{second}")))
            }
            "If" => {
                let [condition, yes, no] = <[Value; 3]>::try_from(args(3)?).expect("three");
                let chosen = if self.condition(condition.as_str().unwrap_or_default())? { yes } else { no };
                self.resolve(&chosen)
            }
            "Equals" => {
                let [a, b] = <[Value; 2]>::try_from(args(2)?).expect("two");
                Ok(Value::Bool(self.resolve_string(&a)? == self.resolve_string(&b)?))
            }
            "Not" => {
                let [a] = <[Value; 1]>::try_from(args(1)?).expect("one");
                Ok(Value::Bool(!truthy(&self.resolve(&a)?)?))
            }
            "And" | "Or" => {
                let items = arg.as_array().ok_or_else(|| Error::Template(format!("Fn::{function} needs a list")))?;
                let values = items.iter().map(|v| truthy(&self.resolve(v)?)).collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Bool(if function == "And" { values.iter().all(|v| *v) } else { values.iter().any(|v| *v) }))
            }
            "Condition" => self.condition(arg.as_str().unwrap_or_default()).map(Value::Bool),
            "Join" => {
                let [separator, items] = <[Value; 2]>::try_from(args(2)?).expect("two");
                let items = self.resolve(&items)?;
                let parts: Vec<String> = items.as_array().into_iter().flatten().map(scalar).collect();
                Ok(Value::String(parts.join(separator.as_str().unwrap_or_default())))
            }
            "Select" => {
                let [index, items] = <[Value; 2]>::try_from(args(2)?).expect("two");
                let index: usize = self
                    .resolve_string(&index)?
                    .parse()
                    .map_err(|_| Error::Template(format!("Fn::Select index {index} is not a number")))?;
                let items = self.resolve(&items)?;
                items
                    .get(index)
                    .cloned()
                    .ok_or_else(|| Error::Template(format!("Fn::Select index {index} is out of range")))
            }
            other => Err(Error::Template(format!("Fn::{other} is not supported by the local stack"))),
        }
    }

    fn reference(&self, name: &str) -> Result<String, Error> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        match name {
            "AWS::Region" => return Ok(REGION.to_owned()),
            "AWS::AccountId" => return Ok(ACCOUNT_ID.to_owned()),
            "AWS::StackName" => return Ok(self.stack_name.clone()),
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            "AWS::NoValue" => return Ok(String::new()),
            _ => {}
        }
        self.physical
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| Error::Template(format!("Ref {name}: not a parameter or a resource created locally")))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, Error> {
        self.physical.get(resource).and_then(|p| p.attributes.get(attribute)).cloned().ok_or_else(|| {
            Error::Template(format!("Fn::GetAtt {resource}.{attribute}: not available for a resource created locally"))
        })
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> Result<String, Error> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| Error::Template(format!("Fn::Sub: unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            let value = match (vars.get(name), name.split_once('.')) {
                (Some(v), _) => self.resolve_string(v)?,
                (None, Some((resource, attribute))) if !name.starts_with("AWS::") => {
                    self.attribute(resource, attribute)?
                }
                _ => self.reference(name)?,
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `Ref` and `!Ref` both name the same function; so do `Fn::GetAtt` and `!GetAtt`.
fn intrinsic_name(key: &str) -> Option<&str> {
    match key {
        "Ref" | "Condition" => Some(key),
        _ => key.strip_prefix('!').or_else(|| key.strip_prefix("Fn::")),
    }
}

fn truthy(value: &Value) -> Result<bool, Error> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(Error::Template(format!("{other} is not a condition value"))),
    }
}

/// A scalar as CloudFormation passes it on: strings as they are, numbers and booleans printed.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn check_parameter(name: &str, spec: &Value, value: &str) -> Result<(), Error> {
    let fail = |why: String| Err(Error::Template(format!("parameter {name}={value:?}: {why}")));
    if let Some(allowed) = spec["AllowedValues"].as_array() {
        let allowed: Vec<String> = allowed.iter().map(scalar).collect();
        if !allowed.iter().any(|a| a == value) {
            return fail(format!("must be one of {}", allowed.join(", ")));
        }
    }
    if spec["Type"] == "Number" {
        let Ok(number) = value.parse::<f64>() else { return fail("must be a number".into()) };
        if let Some(min) = spec["MinValue"].as_f64()
            && number < min
        {
            return fail(format!("must be at least {min}"));
        }
        if let Some(max) = spec["MaxValue"].as_f64()
            && number > max
        {
            return fail(format!("must be at most {max}"));
        }
    }
    if let Some(max) = spec["MaxLength"].as_u64()
        && value.chars().count() as u64 > max
    {
        return fail(format!("must be at most {max} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Timeout: { Type: String, Default: "30", AllowedValues: ["10", "30"] }
  Batch: { Type: Number, Default: 10, MinValue: 1, MaxValue: 10 }
  Email: { Type: String, Default: "" }
Conditions:
  HasEmail: !Not [!Equals [!Ref Email, ""]]
Mappings:
  Timeouts:
    "10": { Visibility: 60 }
    "30": { Visibility: 180 }
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !FindInMap [Timeouts, !Ref Timeout, Visibility]
      Redrive: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: !Ref Batch }
      Name: !Sub "${AWS::StackName}-q-${Dlq.Arn}"
      Email: !If [HasEmail, !Ref Email, none]
  Subscription:
    Type: AWS::SNS::Subscription
    Condition: HasEmail
"#;

    fn template(overrides: &[(&str, &str)]) -> Result<Template, Error> {
        let overrides: Vec<_> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut t = Template::parse(TEMPLATE, "stack", &overrides)?;
        t.created(
            "Dlq",
            Physical { reference: "url".into(), attributes: HashMap::from([("Arn".into(), "arn".into())]) },
        );
        Ok(t)
    }

    /// The dashboard's body is JSON once CloudFormation substitutes it, and its alarm widget
    /// shows every alarm the template defines: an alarm added later is not left off.
    #[test]
    fn the_dashboard_is_json_and_shows_every_alarm() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let t = Template::parse(&std::fs::read_to_string(path).unwrap(), "stack", &[]).unwrap();
        let (_, dashboard) = t.resources_of_type("AWS::CloudWatch::Dashboard").unwrap().remove(0);
        let body = &dashboard["Properties"]["DashboardBody"];
        let body = body["!Sub"].as_str().or(body["Fn::Sub"].as_str()).expect("a !Sub body");
        let mut substituted = String::new();
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            let end = rest[start..].find('}').expect("a closed ${...}") + start;
            substituted.push_str(&rest[..start]);
            substituted.push_str(&format!("<{}>", &rest[start + 2..end]));
            rest = &rest[end + 1..];
        }
        substituted.push_str(rest);
        let body: Value = serde_json::from_str(&substituted).expect("the dashboard body is JSON");
        let widgets = body["widgets"].as_array().unwrap();
        let shown: Vec<&str> =
            widgets.iter().find(|w| w["type"] == "alarm").expect("an alarm widget")["properties"]["alarms"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
        let alarms = t.resources_of_type("AWS::CloudWatch::Alarm").unwrap();
        assert!(alarms.len() >= 8);
        for (id, _) in alarms {
            assert!(shown.contains(&format!("<{id}.Arn>").as_str()), "{id} is not on the dashboard");
        }
    }

    #[test]
    fn resolves_the_intrinsics_the_template_uses() {
        let t = template(&[("Timeout", "10")]).unwrap();
        let (_, queue) = t.resources_of_type("AWS::SQS::Queue").unwrap().remove(0);
        let props = t.resolve(&queue["Properties"]).unwrap();
        assert_eq!(props["VisibilityTimeout"], 60);
        assert_eq!(props["Redrive"]["deadLetterTargetArn"], "arn");
        assert_eq!(props["Redrive"]["maxReceiveCount"], "10");
        assert_eq!(props["Name"], "stack-q-arn");
        assert_eq!(props["Email"], "none");
        assert!(t.resources_of_type("AWS::SNS::Subscription").unwrap().is_empty(), "condition is false");
        let t = template(&[("Email", "ops@example.com")]).unwrap();
        assert_eq!(t.resources_of_type("AWS::SNS::Subscription").unwrap().len(), 1);
    }

    #[test]
    fn overrides_are_checked_like_cloudformation_does() {
        let message = |o: &[(&str, &str)]| template(o).unwrap_err().to_string();
        assert!(message(&[("Timeout", "15")]).contains("must be one of 10, 30"));
        assert!(message(&[("Batch", "11")]).contains("at most 10"));
        assert!(message(&[("Batch", "ten")]).contains("must be a number"));
        assert!(message(&[("Nope", "1")]).contains("not declared"));
        let t = template(&[]).unwrap();
        assert!(t.resolve(&serde_json::json!({"Ref": "Missing"})).unwrap_err().to_string().contains("Ref Missing"));
    }
}
