import Testing
import WorkflowControl

/// Who may control wfd, against the accounts every Debian system has (root, daemon, nobody).
@Suite struct ControlPolicyTests {
    @Test func rootAndWfdsUserAlwaysMayOthersOnlyThroughTheGroup() {
        let policy = ControlPolicy(users: [0, 4242], groupName: "daemon")
        #expect(policy.groupID == 1)
        #expect(policy.refusal(uid: 0, gid: 0) == nil)
        #expect(policy.refusal(uid: 4242, gid: 4242) == nil)
        #expect(policy.refusal(uid: 1, gid: 1) == nil, "daemon's primary group is daemon")
        #expect(policy.refusal(uid: 65534, gid: 65534, groups: [1]) == nil, "a process holding the group")
        let refusal = policy.refusal(uid: 65534, gid: 65534)
        #expect(
            refusal
                == "uid 65534 is not root, uid 4242 (wfd's user) or a member of group 'daemon': add it with usermod -aG daemon USER (and log in again)"
        )
    }

    @Test func aMissingGroupOrNoGroupSaysWhatToDo() {
        let missing = ControlPolicy(users: [0], groupName: "no-such-group-wfd")
        #expect(missing.groupID == nil)
        #expect(
            missing.refusal(uid: 1, gid: 1)?.contains("group 'no-such-group-wfd' does not exist: create it") == true)
        #expect(
            ControlPolicy(users: [0], groupName: nil).refusal(uid: 1, gid: 1)
                == "uid 1 is not root; only they may control wfd")
    }
}
