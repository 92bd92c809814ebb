//! `openapi.yaml` and the router describe the same routes.

use std::collections::BTreeSet;

use marked_yaml::Node;

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.as_mapping()?.get_node(key)
}

#[test]
fn openapi_and_router_agree() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let doc = marked_yaml::parse_yaml(0, &text).expect("openapi.yaml parses");
    let version = get(&doc, "openapi")
        .and_then(Node::as_scalar)
        .expect("openapi version");
    assert!(version.as_str().starts_with("3.1"), "OpenAPI 3.1");
    let mut documented = BTreeSet::new();
    let paths = get(&doc, "paths")
        .and_then(Node::as_mapping)
        .expect("paths");
    for (path, item) in paths.iter() {
        for (method, op) in item.as_mapping().expect("path item").iter() {
            let method = method.as_str();
            if ["get", "post", "put", "delete", "patch"].contains(&method) {
                let responses = get(op, "responses").and_then(Node::as_mapping);
                assert!(
                    responses.is_some_and(|r| !r.is_empty()),
                    "{method} {} documents its responses",
                    path.as_str()
                );
                documented.insert((method.to_owned(), path.as_str().to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = hirebridge::http::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
}
