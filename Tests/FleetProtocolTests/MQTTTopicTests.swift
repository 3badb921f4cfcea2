import Testing
import FleetProtocol

@Suite("Topic names and filters")
struct MQTTTopicTests {
    @Test("valid names", arguments: ["a", "a/b", "/", "a//b", "/a", "$SYS/x", "é/漢/🙂", " ", "$share/g/x"])
    func validNames(_ s: String) { #expect(MQTTTopic.isValidName(s)) }

    @Test("invalid names", arguments: ["", "+", "#", "a/+", "a/#", "a+", "a#b", "a\u{0}b"])
    func invalidNames(_ s: String) { #expect(!MQTTTopic.isValidName(s)) }

    @Test("name length limit is 65,535 UTF-8 bytes")
    func nameLength() {
        #expect(MQTTTopic.isValidName(String(repeating: "a", count: 65_535)))
        #expect(!MQTTTopic.isValidName(String(repeating: "a", count: 65_536)))
        #expect(!MQTTTopic.isValidName(String(repeating: "é", count: 32_768)))  // 65,536 bytes
    }

    @Test("valid filters", arguments: ["a", "#", "+", "+/+", "/+", "+/", "a/#", "a/+/b", "/#", "$SYS/#", "a//b", "sport/+/player1",
                                      "$share/g/a/b", "$share/g/#", "$share/group/+/x", "$share/é/x", "$share", "$shared/x/y"])
    func validFilters(_ s: String) { #expect(MQTTTopic.isValidFilter(s)) }

    @Test("invalid filters", arguments: ["", "a#", "#a", "a/#/b", "#/", "##", "a+", "+a", "a/b+/c", "++", "a\u{0}",
                                        "$share/", "$share/g", "$share/g/", "$share//x", "$share/g+/x", "$share/#/x", "$share/g/a#"])
    func invalidFilters(_ s: String) { #expect(!MQTTTopic.isValidFilter(s)) }

    @Test("filter length limit")
    func filterLength() {
        #expect(MQTTTopic.isValidFilter(String(repeating: "a", count: 65_535)))
        #expect(!MQTTTopic.isValidFilter(String(repeating: "a", count: 65_536)))
    }

    @Test("parseShared")
    func parseShared() {
        #expect(MQTTTopic.parseShared("$share/g/a/b").map { [$0.group, $0.filter] } == ["g", "a/b"])
        #expect(MQTTTopic.parseShared("$share/grp/#").map { [$0.group, $0.filter] } == ["grp", "#"])
        #expect(MQTTTopic.parseShared("$share/é/+/x").map { [$0.group, $0.filter] } == ["é", "+/x"])
        #expect(MQTTTopic.parseShared("$share/g//").map { [$0.group, $0.filter] } == ["g", "/"])
        for notShared in ["a/b", "$share", "$share/", "$share/g", "$share/g/", "$share//x", "$share/+/x", "$SHARE/g/x", "$shared/g/x"] {
            #expect(MQTTTopic.parseShared(notShared) == nil, "\(notShared)")
        }
    }
}
