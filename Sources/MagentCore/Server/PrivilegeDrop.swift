// -u and -g: switch to an unprivileged user and group after the listeners are
// bound. Names or numbers; group first, so no root group is kept by mistake.
import Glibc

enum PrivilegeDrop {
    static func apply(user: String?, group: String?) -> Result<Void, StartupError> {
        var groupID: gid_t? = nil
        var userID: uid_t? = nil
        var userName: String? = nil
        if let group {
            if let number = UInt32(group) {
                groupID = number
            } else if let entry = getgrnam(group) {
                groupID = entry.pointee.gr_gid
            } else {
                return .failure(StartupError("unknown group '\(group)'"))
            }
        }
        if let user {
            if let number = UInt32(user) {
                userID = number
                if let entry = getpwuid(number) {
                    userName = String(cString: entry.pointee.pw_name)
                    if groupID == nil { groupID = entry.pointee.pw_gid }
                }
            } else if let entry = getpwnam(user) {
                userID = entry.pointee.pw_uid
                userName = user
                if groupID == nil { groupID = entry.pointee.pw_gid }
            } else {
                return .failure(StartupError("unknown user '\(user)'"))
            }
        }
        if let groupID {
            if geteuid() == 0 {
                var groups = [groupID]
                if let userName, user != nil {
                    guard initgroups(userName, groupID) == 0 else {
                        return .failure(StartupError("cannot set the groups of '\(userName)': \(errorText(errno))"))
                    }
                } else if setgroups(1, &groups) != 0 {
                    return .failure(StartupError("cannot drop supplementary groups: \(errorText(errno))"))
                }
            }
            guard setgid(groupID) == 0 else {
                return .failure(StartupError("cannot switch to group \(group ?? String(groupID)): \(errorText(errno))"))
            }
        }
        if let userID {
            guard setuid(userID) == 0 else {
                return .failure(StartupError("cannot switch to user \(user ?? String(userID)): \(errorText(errno))"))
            }
        }
        return .success(())
    }
}
