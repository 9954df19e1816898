//! RFC 6120 stream examples (§4, §9) fed through the framer, and the stream
//! error each kind of bad input earns.

use proptest::prelude::*;
use starling_stream::{
    Condition, ContentNamespace, Event, Features, Framer, FramerConfig, StartTls, StreamError,
    StreamHeader, StreamWriter, ns,
};
use starling_xml::{Element, Limits};

fn framer(expected: ContentNamespace) -> Framer {
    Framer::new(FramerConfig {
        expected: Some(expected),
        ..FramerConfig::default()
    })
}

fn drain(f: &mut Framer) -> Result<Vec<Event>, starling_stream::FramingError> {
    let mut out = Vec::new();
    while let Some(e) = f.next_event()? {
        out.push(e);
    }
    Ok(out)
}

fn events_chunked(
    input: &[u8],
    chunk: usize,
    expected: ContentNamespace,
    restarts: &[usize],
) -> Vec<Event> {
    // `restarts`: after the n-th event of these kinds, restart the framer
    // (the caller knows when a restart is due).
    let mut f = framer(expected);
    let mut out = Vec::new();
    for c in input.chunks(chunk.max(1)) {
        f.feed(c);
        loop {
            match f.next_event() {
                Ok(Some(e)) => {
                    out.push(e);
                    if restarts.contains(&out.len()) {
                        f.restart();
                    }
                }
                Ok(None) => break,
                Err(e) => panic!("unexpected error {e} after {out:?}"),
            }
        }
    }
    out
}

/// The client's side of the RFC 6120 §9.1 transcript (TLS, SASL
/// SCRAM-SHA-1, bind, a message), with the TLS bytes left out.
const C2S_CLIENT: &str = concat!(
    "<?xml version='1.0'?>",
    "<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' ",
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    // restart after TLS
    "<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' ",
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>",
    "biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>",
    "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    "Yz1iaXdzLHI9b01zVEFBd0FBQUFNQUFBQU5QMFRBQUFBQUFCUFUwQUFlMTI0Njk1Yi02OWE5LTRkZTYtOWMzMC1iNTFiMzgwOGM1OWUscD1VQTU3dE0vU3ZwQVRCa0gyRlhzMFdEWHZKWXc9",
    "</response>",
    // restart after SASL
    "<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' ",
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<iq id='yhc13a95' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>",
    "<message from='juliet@im.example.com/balcony' id='ju2ba41c' to='romeo@example.net' type='chat' xml:lang='en'>",
    "<body>Art thou not Romeo, and a Montague?</body></message>",
    " \n",
    "</stream:stream>",
);

/// The server's side of the same transcript.
const C2S_SERVER: &str = concat!(
    "<?xml version='1.0'?>",
    "<stream:stream from='im.example.com' id='t7AMCin9zjMNwQKDnplntZPIDEI=' to='juliet@im.example.com' ",
    "version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "<stream:stream from='im.example.com' id='vgKi/bkYME8OAj4rlXMkpucAqe4=' to='juliet@im.example.com' ",
    "version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    "<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>",
    "</mechanisms></stream:features>",
    "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    "cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQWUxMjQ2OTViLTY5YTktNGRlNi05YzMwLWI1MWIzODA4YzU5ZSxzPU5qaGtZVE0wTURndE5HWTBaaTAwTmpkbUxUa3hNbVV0TkRsbU5UTm1ORE5rTURNeixpPTQwOTY=",
    "</challenge>",
    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289</success>",
    "<stream:stream from='im.example.com' id='gPybzaOzBmaADgxKXu9UClbprp0=' to='juliet@im.example.com' ",
    "version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    "<iq id='yhc13a95' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>",
    "<jid>juliet@im.example.com/balcony</jid></bind></iq>",
    "<message from='romeo@example.net/orchard' id='ju2ba41c' to='juliet@im.example.com/balcony' type='chat' xml:lang='en'>",
    "<body>Neither, fair saint, if either thee dislike.</body></message>",
    "</stream:stream>",
);

#[test]
fn rfc6120_9_1_client_side_seen_by_server() {
    // Restarts after <starttls/> (event 2) and after the SASL exchange (event 5).
    let ev = events_chunked(
        C2S_CLIENT.as_bytes(),
        usize::MAX,
        ContentNamespace::Client,
        &[2, 5],
    );
    assert_eq!(ev.len(), 10, "{ev:#?}");
    let Event::Header(h) = &ev[0] else {
        panic!("{:?}", ev[0])
    };
    assert_eq!(h.to.as_ref().unwrap().to_string(), "im.example.com");
    assert_eq!(
        h.from.as_ref().unwrap().to_string(),
        "juliet@im.example.com"
    );
    assert_eq!(h.version, Some((1, 0)));
    assert_eq!(h.lang.as_deref(), Some("en"));
    assert!(matches!(&ev[1], Event::Element(e) if e.is("starttls", ns::TLS)));
    assert!(matches!(&ev[2], Event::Header(_)));
    assert!(
        matches!(&ev[3], Event::Element(e) if e.is("auth", ns::SASL) && e.attr("mechanism") == Some("SCRAM-SHA-1"))
    );
    assert!(
        matches!(&ev[4], Event::Element(e) if e.is("response", ns::SASL) && e.text().starts_with("Yz1i"))
    );
    assert!(matches!(&ev[5], Event::Header(_)));
    assert!(matches!(&ev[6], Event::Element(e) if e.is("iq", ns::CLIENT)));
    let Event::Element(msg) = &ev[7] else {
        panic!()
    };
    assert!(msg.is("message", ns::CLIENT));
    assert_eq!(
        msg.get_child("body", ns::CLIENT).unwrap().text(),
        "Art thou not Romeo, and a Montague?"
    );
    assert_eq!(ev[8], Event::Keepalive);
    assert_eq!(ev[9], Event::Closed);
}

#[test]
fn rfc6120_9_1_server_side_seen_by_client() {
    // Restarts after <proceed/> (event 3) and <success/> (event 7).
    let ev = events_chunked(
        C2S_SERVER.as_bytes(),
        usize::MAX,
        ContentNamespace::Client,
        &[3, 7],
    );
    assert_eq!(ev.len(), 12, "{ev:#?}");
    let Event::Header(h) = &ev[0] else { panic!() };
    assert_eq!(h.id.as_deref(), Some("t7AMCin9zjMNwQKDnplntZPIDEI="));
    assert_eq!(
        ev[1],
        Event::Features(Features {
            starttls: Some(StartTls { required: true }),
            ..Features::default()
        })
    );
    let Event::Features(sasl) = &ev[4] else {
        panic!()
    };
    assert_eq!(
        sasl.mechanisms,
        ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]
    );
    assert!(matches!(&ev[5], Event::Element(e) if e.is("challenge", ns::SASL)));
    assert!(matches!(&ev[6], Event::Element(e) if e.is("success", ns::SASL)));
    let Event::Features(bind) = &ev[8] else {
        panic!()
    };
    assert!(bind.bind && bind.has_mandatory());
    assert_eq!(ev[11], Event::Closed);
}

#[test]
fn transcripts_do_not_depend_on_chunking() {
    let whole = events_chunked(
        C2S_SERVER.as_bytes(),
        usize::MAX,
        ContentNamespace::Client,
        &[3, 7],
    );
    for chunk in [1, 2, 3, 7, 64, 500] {
        assert_eq!(
            events_chunked(
                C2S_SERVER.as_bytes(),
                chunk,
                ContentNamespace::Client,
                &[3, 7]
            ),
            whole
        );
    }
    let whole = events_chunked(
        C2S_CLIENT.as_bytes(),
        usize::MAX,
        ContentNamespace::Client,
        &[2, 5],
    );
    for chunk in [1, 5, 13, 4096] {
        assert_eq!(
            events_chunked(
                C2S_CLIENT.as_bytes(),
                chunk,
                ContentNamespace::Client,
                &[2, 5]
            ),
            whole
        );
    }
}

#[test]
fn restart_keeps_pipelined_bytes() {
    // After <success/> a client may send the new header at once; the
    // bytes that arrived with <success/> must survive the restart.
    let mut f = framer(ContentNamespace::Client);
    f.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
    assert!(matches!(f.next_event().unwrap(), Some(Event::Header(_))));
    f.feed(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><?xml version='1.0'?><stream:stream xmlns='jabber:client' ");
    assert!(matches!(f.next_event().unwrap(), Some(Event::Element(_))));
    f.restart();
    assert_eq!(f.next_event().unwrap(), None);
    f.feed(b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='2'>");
    let Some(Event::Header(h)) = f.next_event().unwrap() else {
        panic!()
    };
    assert_eq!(h.id.as_deref(), Some("2"));
}

fn header_then(body: &str) -> Vec<u8> {
    format!(
        "<stream:stream to='example.com' version='1.0' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>{body}"
    )
    .into_bytes()
}

fn first_error(input: &[u8], config: FramerConfig) -> Condition {
    let mut f = Framer::new(config);
    f.feed(input);
    loop {
        match f.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(input)),
            Err(e) => {
                // The framer stays failed with the same error.
                assert_eq!(f.next_event().unwrap_err(), e);
                return e.error.condition;
            }
        }
    }
}

fn client_cfg() -> FramerConfig {
    FramerConfig {
        expected: Some(ContentNamespace::Client),
        ..FramerConfig::default()
    }
}

#[test]
fn each_bad_input_gets_its_stream_error() {
    let cases: &[(&[u8], Condition)] = &[
        // RFC 6120 §4.9.3.18 / §11.1
        (&header_then("<!-- hi -->"), Condition::RestrictedXml),
        (&header_then("<?php echo 1; ?>"), Condition::RestrictedXml),
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>", Condition::RestrictedXml),
        (&header_then("<message><body>&lol;</body></message>"), Condition::RestrictedXml),
        // §4.9.3.13
        (&header_then("<message></iq>"), Condition::NotWellFormed),
        (&header_then("<message a='1' a='2'/>"), Condition::NotWellFormed),
        (&header_then("<message>\u{1}</message>"), Condition::NotWellFormed),
        (&header_then("hello<message/>"), Condition::NotWellFormed),
        // §4.9.3.22
        (&[header_then("<message><body>"), b"\xC3\x28</body></message>".to_vec()].concat(), Condition::UnsupportedEncoding),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>", Condition::UnsupportedEncoding),
        (b"\xFF\xFE<\x00", Condition::UnsupportedEncoding),
        // §4.9.3.2
        (b"<foo:stream xmlns='jabber:client'>", Condition::BadNamespacePrefix),
        (&header_then("<x:message/>"), Condition::BadNamespacePrefix),
        // §4.9.3.10
        (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/streams'>", Condition::InvalidNamespace),
        (b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::InvalidNamespace),
        (b"<stream:stream xmlns='urn:other' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::InvalidNamespace),
        (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", Condition::InvalidNamespace),
        // §4.9.3.25
        (b"<stream:stream version='2.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::UnsupportedVersion),
        (b"<stream:stream version='one' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::UnsupportedVersion),
        // §4.7.1, §4.9.3.9, §4.9.3.6
        (b"<stream:stream from='a@b@c' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::InvalidFrom),
        (b"<stream:stream to='' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", Condition::HostUnknown),
        // §4.9.3.1
        (b"<stream:features xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>", Condition::BadFormat),
    ];
    for (input, want) in cases {
        assert_eq!(
            &first_error(input, client_cfg()),
            want,
            "for {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn limits_give_policy_violation() {
    let limits = Limits {
        max_element_bytes: 1024,
        ..Limits::default()
    };
    let cfg = FramerConfig {
        expected: Some(ContentNamespace::Client),
        limits,
    };
    let big = format!("<message><body>{}</body></message>", "x".repeat(2000));
    assert_eq!(
        first_error(&header_then(&big), cfg),
        Condition::PolicyViolation
    );
    let deep = "<a>".repeat(100);
    assert_eq!(
        first_error(&header_then(&deep), client_cfg()),
        Condition::PolicyViolation
    );
    // A stanza under the limit passes.
    let mut f = Framer::new(cfg);
    f.feed(&header_then("<message><body>small</body></message>"));
    assert!(matches!(f.next_event().unwrap(), Some(Event::Header(_))));
    assert!(matches!(f.next_event().unwrap(), Some(Event::Element(_))));
}

#[test]
fn rfc6120_4_9_stream_error_examples() {
    // §4.9.1.1 (condition only) and §4.9.4 (application-specific condition).
    let input = header_then(
        "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    let mut f = framer(ContentNamespace::Client);
    f.feed(&input);
    let ev = drain(&mut f).unwrap();
    assert_eq!(
        ev[1],
        Event::Error(StreamError::new(Condition::NotWellFormed))
    );
    assert_eq!(ev[2], Event::Closed);

    let input = header_then(concat!(
        "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
        "<text xml:lang='en' xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Some special application diagnostic information!</text>",
        "<escape-your-data xmlns='http://example.org/ns'/></stream:error>"
    ));
    let mut f = framer(ContentNamespace::Client);
    f.feed(&input);
    let ev = drain(&mut f).unwrap();
    let Event::Error(e) = &ev[1] else { panic!() };
    assert_eq!(e.condition, Condition::NotWellFormed);
    assert_eq!(
        e.text.as_deref(),
        Some("Some special application diagnostic information!")
    );
    assert_eq!(e.lang.as_deref(), Some("en"));
    assert!(
        e.application
            .as_ref()
            .unwrap()
            .is("escape-your-data", "http://example.org/ns")
    );

    // §4.9.3.19 see-other-host carries the host.
    let input = header_then(
        "<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>[2001:db8::a11:2]:9552</see-other-host></stream:error>",
    );
    let mut f = framer(ContentNamespace::Client);
    f.feed(&input);
    let ev = drain(&mut f).unwrap();
    assert_eq!(
        ev[1],
        Event::Error(StreamError::new(Condition::SeeOtherHost(
            "[2001:db8::a11:2]:9552".into()
        )))
    );
}

#[test]
fn every_stream_error_condition_round_trips_through_the_wire() {
    for cond in Condition::all() {
        let cond = match cond {
            Condition::SeeOtherHost(_) => Condition::SeeOtherHost("other.example.com".into()),
            c => c,
        };
        let err = StreamError::new(cond.clone()).with_text("why");
        let mut wire = Vec::new();
        let mut w = StreamWriter::new();
        w.open(
            &StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap()),
            &mut wire,
        );
        w.error(&err, &mut wire);
        assert!(!w.is_open());
        let mut f = framer(ContentNamespace::Client);
        f.feed(&wire);
        let ev = drain(&mut f).unwrap();
        assert_eq!(ev[1], Event::Error(err), "{cond}");
        assert_eq!(ev[2], Event::Closed);
    }
}

#[test]
fn server_streams_and_dialback_prefix() {
    let mut wire = Vec::new();
    let mut w = StreamWriter::new();
    let header = StreamHeader::initial(ContentNamespace::Server, "example.net".parse().unwrap())
        .with_from("example.com".parse().unwrap());
    w.open(&header, &mut wire);
    let text = String::from_utf8(wire.clone()).unwrap();
    assert!(text.contains("xmlns:db='jabber:server:dialback'"), "{text}");
    let db = Element::builder("result", ns::DIALBACK)
        .attr("from", "example.com")
        .attr("to", "example.net")
        .text("key")
        .build();
    w.element(&db, &mut wire);
    let text = String::from_utf8(wire.clone()).unwrap();
    assert!(
        text.ends_with("<db:result from='example.com' to='example.net'>key</db:result>"),
        "{text}"
    );
    let mut f = framer(ContentNamespace::Server);
    f.feed(&wire);
    let ev = drain(&mut f).unwrap();
    let Event::Header(h) = &ev[0] else { panic!() };
    assert!(h.dialback);
    assert_eq!(h.content, ContentNamespace::Server);
    assert_eq!(ev[1], Event::Element(db));
}

#[test]
fn features_round_trip_with_unknown_extensions() {
    let f = Features {
        starttls: Some(StartTls { required: false }),
        mechanisms: vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-1".into()],
        bind: true,
        session: Some(starling_stream::Session { optional: true }),
        roster_ver: true,
        pre_approval: true,
        dialback: false,
        other: vec![Element::builder("sm", "urn:xmpp:sm:3").build()],
    };
    let mut wire = Vec::new();
    let mut w = StreamWriter::new();
    w.open(
        &StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap()),
        &mut wire,
    );
    w.features(&f, &mut wire);
    let mut fr = framer(ContentNamespace::Client);
    fr.feed(&wire);
    let ev = drain(&mut fr).unwrap();
    assert_eq!(ev[1], Event::Features(f));
}

proptest! {
    #[test]
    fn framer_output_does_not_depend_on_chunking(cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let input = C2S_SERVER.as_bytes();
        let whole = events_chunked(input, usize::MAX, ContentNamespace::Client, &[3, 7]);
        let mut f = framer(ContentNamespace::Client);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < input.len() {
            let n = cuts[i % cuts.len()].min(input.len() - pos);
            i += 1;
            f.feed(&input[pos..pos + n]);
            pos += n;
            while let Some(e) = f.next_event().unwrap() {
                out.push(e);
                if [3, 7].contains(&out.len()) {
                    f.restart();
                }
            }
        }
        prop_assert_eq!(out, whole);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..64) {
        let mut f = Framer::new(FramerConfig::default());
        for c in header_then("").chunks(chunk).chain(data.chunks(chunk)) {
            f.feed(c);
            while let Ok(Some(_)) = f.next_event() {}
        }
        f.finish();
        while let Ok(Some(_)) = f.next_event() {}
    }
}
