-- Who vouched for an approver: the admin who chose their password, the admin who granted their role. Neither may
-- have their own T4 call approved by that approver (one person could otherwise approve through an account they made).
ALTER TABLE "User" ADD COLUMN "passwordChosenBy" UUID;
ALTER TABLE "RoleBinding" ADD COLUMN "grantedBy" UUID;
